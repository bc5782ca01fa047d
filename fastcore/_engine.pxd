# Declarations of the compiled pricing engine (fastcore/_engine.pyx).

cimport cython

cdef extern from *:
    ctypedef long long i128 "__int128"

ctypedef long long i64


cdef struct ItemRec:
    # one item in one 64-byte cache line: what a basket line needs, and its
    # sku inline so that finding the line's item costs one more line at most
    i64 price
    i64 min_price
    i64 hash          # Python's hash of the sku string
    int flags
    int tgt_lo        # run in item_targets
    int tgt_hi
    int exc_lo        # run in item_excludes
    int exc_hi
    unsigned char n   # sku length when inline (ASCII, <= 19 bytes), else 255
    char sku[19]


cdef struct PromoHot:
    # what the per-basket loops ask of every reached promotion, 12 bytes each
    # (the whole table stays in cache; the full row is read only when needed)
    int group         # -1: none
    unsigned char cond  # 1 when some static condition (time, store, customer, coupon) applies
    unsigned char phase
    unsigned char kind
    unsigned char stack
    unsigned char targeted  # reached through items' runs (not a promotion without targets)


cdef struct Ctx:
    int L            # lines
    int K            # candidate promotions (slots, in visit order)
    bint too_large
    # per line
    i64 *item
    i64 *flags
    i64 *q
    i64 *amount
    i64 *floor
    i64 *disc
    i64 *closed
    i64 *redeemed
    i64 *base
    i64 *points
    i64 *mult
    i64 *mult_slot
    # scratch per line
    i64 *tmp
    i64 *best
    i64 *touched
    i64 *best_touched
    i64 *w
    i64 *cap
    i64 *share
    i64 *rem
    i64 *act
    i64 *out
    i64 *order
    # per slot
    i64 *cand
    i64 *static_ok
    i64 *disc_tot
    i64 *pts_tot
    i64 *mult_set
    i64 *active      # slots that gave anything (result)
    i64 *gnext       # next candidate member of the same group, -1 at the end
    i64 *slot_of     # promotion rank -> slot (valid for candidates)
    i64 *judged      # per group
    # per slot x line
    i64 *sptr        # slot -> first index in slines
    i64 *send        # slot -> end index in slines
    i64 *slines      # eligible lines of each slot
    signed char *C   # contributed (promos of a line)
    # basket facts
    i64 at_us
    i64 weekday
    i64 minute
    i64 store
    i64 chain
    bint has_customer
    i64 tier
    i64 rate
    i64 n_seg
    i64 *seg
    i64 n_offer
    i64 *offer
    i64 n_coupon
    i64 *coupon
    i64 *coupon_used
    int n_glob
    i64 *glob        # promotions without targets kept for this basket
    i64 *cnt         # per rank: (line, promotion) pairs reached, for ranks reached by a line


cdef class _Csr:
    # A compressed sparse row table of ints: row r is data[ptr[r]:ptr[r+1]].
    cdef object _ptr_buf
    cdef object _data_buf
    cdef const i64[::1] ptr
    cdef const i64[::1] data


cdef class _Cust:
    cdef i64 points
    cdef bint points_big
    cdef i64 tier
    cdef object segments
    cdef object offers
    cdef object favorite_category
    cdef i64 favorite_until
    cdef i64 birthday
    cdef bint birthday_bonus_available
    cdef bint first_purchase


cdef class _Priced:
    cdef i64 *buf
    cdef int L
    cdef int n_active
    cdef tuple skus
    cdef tuple ids
    cdef tuple redeem
    cdef tuple bonus
    cdef list rejected
    cdef i64 amount
    cdef i64 discount
    cdef i64 redeemed
    cdef i64 paid
    cdef i64 points


@cython.final  # no subclass: every self._method() is a direct C call the compiler may inline
cdef class Engine:
    cdef readonly object bundle
    cdef object _reference
    cdef object _hint_reach
    cdef PromoHot *hot
    cdef ItemRec *items      # n_items records, 64-byte aligned
    cdef unsigned int *sku_slots  # open addressing by sku hash: item + 1, 0 = empty
    cdef i64 sku_mask
    cdef dict _store_index
    cdef dict _tier_index
    cdef dict _segment_index
    cdef dict _coupon_index
    cdef dict _promo_rank
    cdef dict _prefix_index
    cdef tuple _promo_ids
    cdef tuple _skus
    cdef list _store_zones
    cdef int n_items
    cdef int n_promos
    cdef int n_groups
    # program
    cdef i64 point_value
    cdef i64 redeem_cap_bp
    cdef bint accrue_on_redeemed
    cdef i64 welcome_points
    cdef i64 birthday_points
    cdef i64 favorite_pct
    # items
    cdef object _item_bufs
    cdef const int[::1] item_targets   # promotion ranks reached by each item's keys (shared runs)
    cdef const int[::1] item_excludes  # promotion ranks whose exclude lists name the item
    cdef _Csr item_keys
    # promotions (index = visit rank)
    cdef object _promo_buf
    cdef const i64[::1] P      # promotions: NF integers per visit rank
    cdef const i64[::1] global_open
    cdef const i64[::1] global_gate   # per rank: 1 when an offer opens it (personal, no targets)
    cdef int n_open
    cdef object _gate_bufs
    cdef _Csr global_by_coupon
    cdef _Csr global_by_tier
    cdef const i64[::1] group_first
    cdef object _group_first_buf
    cdef object _tier_rates
    cdef object _store_chain
    cdef bint _too_large
    cdef _Csr p_hours
    cdef _Csr p_chains
    cdef _Csr p_stores
    cdef _Csr p_tiers
    cdef _Csr p_segments

    cdef object _price(self, object basket)
    cdef i64 _find_sku(self, object sku) except -2
    cdef void _read_lines(self, Ctx *c, list raw_lines) except *
    cdef int _candidates(self, Ctx *c, i64 *cand, char *mark, unsigned long long *bits) noexcept
    cdef void _link_groups(self, Ctx *c) noexcept
    cdef i64 _count_reach(self, Ctx *c, char *mark) noexcept
    cdef void _reach(self, Ctx *c, char *mark) noexcept
    cdef bint _flag_ok(self, i64 r, i64 fl) noexcept
    cdef bint _static_ok(self, Ctx *c, int s) noexcept
    cdef bint _static_rank(self, Ctx *c, i64 r) noexcept
    cdef int _applicable(self, Ctx *c, int s) noexcept
    cdef i64 _effect(self, Ctx *c, int s, int n) noexcept
    cdef void _give(self, Ctx *c, int s, i64 *lines, int n, i64 *by_line) noexcept
    cdef void _visit(self, Ctx *c, int bonus) noexcept
    cdef tuple _redeem(self, Ctx *c, _Cust customer, object requested)
    cdef tuple _accrue(self, Ctx *c, _Cust customer, object local)
    cdef _Cust _read_customer(self, object raw)
    cdef _Cust _customer_slow(self, object raw)
    cdef object _result(self, Ctx *c, tuple redeem, tuple bonus, list coupons)
