# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The compiled pricing engine: spec/pricing.md in C arithmetic.

Same API and same results as ``fastcore.reference``. Per basket it reads
the JSON-like dict once at the Python boundary, then works on C arrays of
64-bit integers; every product is taken in 128 bits. The result keeps its
figures as C integers and builds the §7 dicts when first asked
(``Result.to_json``). Where the time goes and what each shortcut bought:
docs/BENCHMARKS.md. Quantities too large
for that (beyond any real till) are handed to the reference twin, which
uses Python's big integers, so results never depend on the engine chosen.

Bounds and wrap-around checks are off: every index below comes from a loop
bound or from the compiled tables, whose consistency ``_compile`` ensures
and the differential tests exercise.
"""
from array import array

from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject_Hash
from cpython.ref cimport PyObject
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcmp, memcpy, memset

from ._basket import MAX, _customer, _strs, read_basket, read_redeem
from ._bundle import load_bundle
from ._compile import LIMIT, compile_bundle, epoch_us
from ._errors import BasketError
from ._hints import NEAR_BP, Reach, hints_for
from ._result import Result
from ._instants import parse_instant
from ._quantity import parse_qty_milli, qty_text
from ._values import _gc_paused

DEF NO_DISCOUNT = 1
DEF NO_ACCRUAL = 2
DEF NO_REDEEM = 4
DEF KG = 8
DEF K_PERCENT = 0
DEF K_AMOUNT_OFF = 1
DEF K_FIXED = 2
DEF K_NFORM = 3
DEF K_BPERCENT = 4
DEF K_BAMOUNT = 5
DEF K_MULT = 6
DEF K_BPOINTS = 7
DEF INF = -1
DEF PL = 6
DEF P_ITEM = 0
DEF P_Q = 1
DEF P_AMOUNT = 2
DEF P_DISC = 3
DEF P_REDEEMED = 4
DEF P_POINTS = 5
DEF NF = 18
DEF F_KIND = 0
DEF F_PHASE = 1
DEF F_VALUE = 2
DEF F_N = 3
DEF F_M = 4
DEF F_PER_UNIT = 5
DEF F_STACK = 6
DEF F_GROUP = 7
DEF F_NEED_CUSTOMER = 8
DEF F_PERSONAL = 9
DEF F_COUPON = 10
DEF F_MIN_QTY = 11
DEF F_MIN_AMOUNT = 12
DEF F_HAS_FROM = 13
DEF F_FROM = 14
DEF F_HAS_UNTIL = 15
DEF F_UNTIL = 16
DEF F_DAYS = 17

cdef i64 C_LIMIT = 1LL << 61
_PROMO_FIELDS = ('kind', 'phase', 'value', 'n', 'm', 'per_unit', 'stack', 'group', 'need_customer', 'personal', 'coupon', 'min_qty', 'min_amount', 'has_from', 'from', 'has_until', 'until', 'days')
cdef list _QTY_CACHE = [str(i) for i in range(1000)]
cdef list _FRAC_CACHE = [("." + f"{i:03d}".rstrip("0")) if i else "" for i in range(1000)]


class _TooLarge(Exception):
    """Raised inside the engine when a value needs big-int arithmetic."""


cdef class _Csr:
    def __init__(self, tuple table):
        self._ptr_buf = array("q", table[0])
        self._data_buf = array("q", table[1] or [0])
        self.ptr = self._ptr_buf
        self.data = self._data_buf


cdef extern from "stdlib.h":
    int posix_memalign(void **, size_t, size_t) nogil


cdef extern from *:
    int __builtin_ctzll(unsigned long long) nogil
    void __builtin_prefetch(const void *) nogil


cdef extern from "Python.h":
    void PyObject_GC_UnTrack(object)
    bint PyUnicode_IS_COMPACT_ASCII(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    void *PyUnicode_DATA(object)
    long long PyLong_AsLongLongAndOverflow(object, int *) except? -1


cdef inline i64 _small_int(object value) except? -1:
    """A Python int in 1..10**6, else 0 (the common quantity, read without allocating)."""
    cdef int overflow = 0
    cdef long long v = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or v < 1 or v > 1000000:
        return 0
    return v


cdef inline i64 _qty_text(str text) except? -2:
    """Thousandths of a short decimal string like "2" or "0.455"; 0 when unusual.

    Anything this fast path does not take ("1.5000", long or odd strings)
    goes to the exact general reader, which decides validity.
    """
    cdef Py_ssize_t n = len(text), i
    cdef i64 whole = 0, frac = 0, digits = 0
    cdef Py_UCS4 ch
    cdef bint dot = False
    if n == 0 or n > 12:
        return 0
    for i in range(n):
        ch = text[i]
        if ch == 46:  # '.'
            if dot or i == 0 or i == n - 1:
                return 0
            dot = True
        elif 48 <= ch <= 57:  # '0'..'9'
            if dot:
                if digits == 3:
                    return 0
                frac = frac * 10 + (<i64>ch - 48)
                digits += 1
            else:
                whole = whole * 10 + (<i64>ch - 48)
        else:
            return 0
    while digits < 3:
        frac *= 10
        digits += 1
    return whole * 1000 + frac


cdef i64 _EPOCH_ORDINAL = 719163  # date(1970, 1, 1).toordinal()


cdef i64 _epoch_us(object local) except? -1:
    """Microseconds since 1970 of an aware datetime, from its wall clock and offset."""
    offset = local.utcoffset()
    cdef i64 days = local.toordinal() - _EPOCH_ORDINAL
    cdef i64 secs = days * 86400 + local.hour * 3600 + local.minute * 60 + local.second
    secs -= offset.days * 86400 + offset.seconds
    return secs * 1000000 + local.microsecond - offset.microseconds


cdef inline i64 _rhu(i128 n, i128 d):
    return <i64>((2 * n + d) // (2 * d))


cdef inline bint _in_row(_Csr t, i64 row, i64 value) noexcept:
    cdef i64 j
    for j in range(t.ptr[row], t.ptr[row + 1]):
        if t.data[j] == value:
            return True
    return False


cdef inline i64 _fit(Ctx *c, i128 x) noexcept:
    if x > C_LIMIT or x < -C_LIMIT:
        c.too_large = True
        return 0
    return <i64>x


cdef void _allocate(Ctx *c, i64 total, int n) noexcept:
    """spec §1 allocate over c.w/c.cap (cap INF = none) into c.out[0:n]."""
    cdef int i, j, k, na = 0, nn
    cdef i64 W, given, extra, key_r, key_i
    cdef i128 t
    cdef bint over
    for i in range(n):
        c.out[i] = 0
        if c.w[i] > 0 and c.cap[i] != 0:
            c.act[na] = i
            na += 1
    while na > 0 and total > 0:
        W = 0
        for j in range(na):
            W += c.w[c.act[j]]
        given = 0
        for j in range(na):
            t = <i128>total * c.w[c.act[j]]
            c.share[j] = <i64>(t // W)
            c.rem[j] = <i64>(t % W)
            given += c.share[j]
        extra = total - given
        if extra > 0:
            # order positions by remainder descending, then line ascending (stable)
            for j in range(na):
                c.order[j] = j
            for j in range(1, na):
                k = j
                key_i = c.order[j]
                key_r = c.rem[key_i]
                while k > 0 and c.rem[c.order[k - 1]] < key_r:
                    c.order[k] = c.order[k - 1]
                    k -= 1
                c.order[k] = key_i
            for j in range(extra):
                c.share[c.order[j]] += 1
        over = False
        for j in range(na):
            i = c.act[j]
            if c.cap[i] != INF and c.share[j] > c.cap[i]:
                over = True
                break
        if not over:
            for j in range(na):
                c.out[c.act[j]] = c.share[j]
            return
        nn = 0
        for j in range(na):
            i = c.act[j]
            if c.cap[i] != INF and c.share[j] > c.cap[i]:
                c.out[i] = c.cap[i]
                total -= c.cap[i]
            else:
                c.act[nn] = i
                nn += 1
        na = nn


cdef class Engine:
    """Prices baskets against one bundle; the compiled implementation."""

    name = "compiled"

    def __init__(self, bundle):
        self.bundle = load_bundle(bundle)
        self._reference = None
        self._hint_reach = None
        cdef object comp = compile_bundle(self.bundle)
        self._skus = tuple(self.bundle.catalog)
        self._prefix_index = comp.prefix_index
        self._store_index = comp.store_index
        self._store_zones = [s.zone for s in self.bundle.stores.values()]
        self._store_chain = array("q", comp.store_chain or [0])
        self._tier_index = comp.tier_index
        self._segment_index = comp.segment_index
        self._coupon_index = comp.coupon_index
        self._promo_rank = comp.promo_rank
        self._promo_ids = tuple(p.id for p in self.bundle.promotions)
        self.n_items = len(self._skus)
        self.n_promos = len(self._promo_ids)
        self.n_groups = comp.n_groups
        self._too_large = comp.too_large
        prog = self.bundle.program
        self.point_value = prog.point_value if not comp.too_large else 1
        self.redeem_cap_bp = prog.redeem_cap_bp if not comp.too_large else 0
        self.accrue_on_redeemed = prog.accrue_on_redeemed
        self.welcome_points = prog.welcome_points if not comp.too_large else 0
        self.birthday_points = prog.birthday_points if not comp.too_large else 0
        self.favorite_pct = prog.favorite_multiplier_pct if not comp.too_large else 0
        self._tier_rates = array("q", [t.rate_bp if not comp.too_large else 0 for t in self.bundle.tiers])
        if comp.too_large:
            return
        self.item_keys = _Csr(comp.item_keys)
        # one 64-byte record per item, found by the sku's hash (see ItemRec)
        tlo, thi, tdata = comp.item_targets
        elo, ehi, edata = comp.item_excludes
        if max(len(tdata), len(edata)) >= (1 << 31):
            raise MemoryError("promotion runs beyond 2**31 entries")
        self._build_items(comp, tlo, thi, elo, ehi)
        # ranks as 32-bit ints: half the memory a basket reads
        self._item_bufs = [array("i", tdata or [0]), array("i", edata or [0])]
        self.item_targets, self.item_excludes = self._item_bufs
        cols = comp.promos
        # one row of NF integers per promotion, so a visit touches one or two cache lines
        self._promo_buf = array("q", [int(cols[k][r]) for r in range(self.n_promos) for k in _PROMO_FIELDS] or [0])
        self.P = self._promo_buf
        self._build_hot(cols, comp)
        gate = array("q", bytes(8 * max(1, self.n_promos)))
        for r in comp.global_personal:
            gate[r] = 1
        self._gate_bufs = [array("q", comp.global_open or [0]), gate]
        self.global_open, self.global_gate = self._gate_bufs
        self.n_open = len(comp.global_open)
        self.global_by_coupon = _Csr(comp.global_by_coupon)
        self.global_by_tier = _Csr(comp.global_by_tier)
        first = {}
        for rank, g in enumerate(cols["group"]):
            if g >= 0:
                first.setdefault(g, rank)
        self._group_first_buf = array("q", [first[g] for g in range(comp.n_groups)] or [0])
        self.group_first = self._group_first_buf
        self.p_hours = _Csr(comp.hours)
        self.p_chains = _Csr(comp.chains)
        self.p_stores = _Csr(comp.stores)
        self.p_tiers = _Csr(comp.tiers)
        self.p_segments = _Csr(comp.segments)

    def __dealloc__(self):
        free(self.hot)
        free(self.items)
        free(self.sku_slots)

    def _build_hot(self, cols, comp):
        cdef Py_ssize_t r
        cdef PromoHot *h
        global_ranks = set(comp.global_promos)
        self.hot = <PromoHot *>calloc(self.n_promos + 1, sizeof(PromoHot))
        if self.hot == NULL:
            raise MemoryError()
        for r in range(self.n_promos):
            h = &self.hot[r]
            h.group = cols["group"][r]
            h.phase = cols["phase"][r]
            h.kind = cols["kind"][r]
            h.stack = cols["stack"][r]
            h.targeted = 0 if r in global_ranks else 1
            h.cond = 1 if (cols["has_from"][r] or cols["has_until"][r] or cols["days"][r] or cols["need_customer"][r]
                           or cols["personal"][r] or cols["coupon"][r] >= 0
                           or any(t[0][r] < t[0][r + 1] for t in (comp.hours, comp.chains, comp.stores, comp.tiers,
                                                                  comp.segments))) else 0

    def _build_items(self, comp, tlo, thi, elo, ehi):
        cdef Py_ssize_t n = self.n_items, i, size = 1, pos
        cdef ItemRec *rec
        cdef bytes text
        cdef void *mem = NULL
        while size < 2 * n + 2:
            size <<= 1
        if posix_memalign(&mem, 64, sizeof(ItemRec) * (n if n > 0 else 1)) != 0:
            raise MemoryError()
        self.items = <ItemRec *>mem
        memset(self.items, 0, sizeof(ItemRec) * (n if n > 0 else 1))
        self.sku_slots = <unsigned int *>calloc(size, sizeof(unsigned int))
        if self.sku_slots == NULL:
            raise MemoryError()
        self.sku_mask = size - 1
        price, min_price, flags = (comp.items[k] for k in ("price", "min_price", "flags"))
        for i in range(n):
            sku = self._skus[i]
            rec = &self.items[i]
            rec.price = price[i]
            rec.min_price = min_price[i]
            rec.flags = flags[i]
            rec.tgt_lo = tlo[i]
            rec.tgt_hi = thi[i]
            rec.exc_lo = elo[i]
            rec.exc_hi = ehi[i]
            rec.hash = hash(sku)
            if sku.isascii() and len(sku) <= 19:
                text = sku.encode("ascii")
                rec.n = len(text)
                memcpy(rec.sku, <char *>text, rec.n)
            else:
                rec.n = 255
            pos = rec.hash & self.sku_mask
            while self.sku_slots[pos]:
                pos = (pos + 1) & self.sku_mask
            self.sku_slots[pos] = <unsigned int>(i + 1)

    cdef i64 _find_sku(self, object sku) except -2:
        """The item index of a sku string, -1 when the catalog has none.

        Equal strings have equal hashes; a short ASCII sku is compared with
        the bytes kept in the record, any other with the catalog's string.
        """
        cdef Py_hash_t h = PyObject_Hash(sku)  # cached in the string after the first time
        cdef Py_ssize_t n = PyUnicode_GET_LENGTH(sku)
        cdef bint inline = PyUnicode_IS_COMPACT_ASCII(sku) and n <= 19
        cdef const char *text = <const char *>PyUnicode_DATA(sku) if inline else NULL
        cdef i64 pos = h & self.sku_mask
        cdef unsigned int slot
        cdef ItemRec *rec
        cdef Py_ssize_t k
        while True:
            slot = self.sku_slots[pos]
            if slot == 0:
                return -1
            rec = &self.items[slot - 1]
            if rec.hash == h:
                if inline:
                    if rec.n == n:
                        k = 0
                        while k < n and rec.sku[k] == text[k]:
                            k += 1
                        if k == n:
                            return slot - 1
                elif rec.n == 255 and self._skus[slot - 1] == sku:
                    return slot - 1
            pos = (pos + 1) & self.sku_mask

    @property
    def version(self):
        """The bundle version this engine prices with."""
        return self.bundle.version

    def price(self, basket):
        """Price one basket (§2 JSON as a dict); raises ``BasketError``."""
        if not self._too_large:
            try:
                return self._price(basket)
            except _TooLarge:
                pass
        if self._reference is None:
            from .reference import Engine as Reference
            self._reference = Reference(self.bundle)
        return self._reference.price(basket)

    def hints(self, basket, *, result=None, near_bp=NEAR_BP, limit=None):
        """Cashier hints for one basket, read from this engine's own result
        (``fastcore._hints``); ``price()`` itself never computes them."""
        checked = read_basket(basket, self.bundle)
        data = (result if result is not None else self.price(basket)).to_json()
        if self._hint_reach is None:
            self._hint_reach = Reach(self.bundle)  # the hints' index, built on the first call
        return hints_for(self.bundle, checked, data, near_bp=near_bp, limit=limit, reach=self._hint_reach)

    def price_many(self, baskets):
        """Price a day of receipts (the ledger's audit) in one call.

        The cyclic garbage collector is paused for the batch: pricing makes
        no reference cycles, and full collections over a day of receipts
        would otherwise cost more than the pricing itself. Each result keeps
        its figures as C integers until its ``to_json()`` is asked for.
        """
        cdef list out = []
        with _gc_paused():
            for b in baskets:
                if not self._too_large:
                    try:
                        out.append(self._price(b))
                        continue
                    except _TooLarge:
                        pass
                out.append(self.price(b))
        return out

    # -- the Python boundary: read the basket -------------------------------------------

    cdef object _price(self, object basket):
        if not isinstance(basket, dict):
            raise BasketError("bad_basket", "must be a JSON object", "basket")
        store_id = basket.get("store")
        store = self._store_index.get(store_id) if isinstance(store_id, str) else None
        if store is None:
            raise BasketError("bad_basket", f"unknown store {store_id!r}", "store")
        at_raw = basket.get("at")
        at = parse_instant(at_raw, strict=False)
        if at is None:
            raise BasketError("bad_basket", f"must be an ISO-8601 instant with an offset, not {at_raw!r}", "at")
        coupons = _strs(basket, "coupons", "coupons")
        cdef _Cust customer = self._read_customer(basket.get("customer"))
        raw_lines = basket.get("lines")
        if raw_lines is None:
            raw_lines = []
        if not isinstance(raw_lines, list):
            raise BasketError("bad_basket", "must be a list", "lines")
        if not raw_lines:
            raise BasketError("bad_basket", "a basket needs at least one line", "lines")
        cdef int L = len(raw_lines)
        cdef int ncp = len(coupons)
        cdef int nseg = len(customer.segments) if customer is not None else 0
        cdef int noff = len(customer.offers) if customer is not None else 0
        cdef Ctx c
        memset(&c, 0, sizeof(Ctx))
        c.L = L
        cdef int j
        cdef i64 *lines_block = <i64 *>malloc(sizeof(i64) * (L * 24 + ncp * 2 + nseg + noff + 4))
        if lines_block == NULL:
            raise MemoryError()
        cdef i64 *p = lines_block
        c.item = p; p += L
        c.flags = p; p += L
        c.q = p; p += L
        c.amount = p; p += L
        c.floor = p; p += L
        c.disc = p; p += L
        c.closed = p; p += L
        c.redeemed = p; p += L
        c.base = p; p += L
        c.points = p; p += L
        c.mult = p; p += L
        c.mult_slot = p; p += L
        c.tmp = p; p += L
        c.best = p; p += L
        c.touched = p; p += L
        c.best_touched = p; p += L
        c.w = p; p += L
        c.cap = p; p += L
        c.share = p; p += L
        c.rem = p; p += L
        c.act = p; p += L
        c.out = p; p += L
        c.order = p; p += L
        c.seg = p; p += nseg
        c.offer = p; p += noff
        c.coupon = p; p += ncp
        c.coupon_used = p; p += ncp + 1
        cdef i64 *slots = NULL
        cdef signed char *matrix = NULL
        cdef i64 *slines = NULL
        cdef i64 *static_buf = NULL
        cdef i64 *slot_of = NULL
        cdef char *mark = NULL
        cdef unsigned long long *bits = NULL
        try:
            self._read_lines(&c, raw_lines)
            requested = read_redeem(basket.get("redeem"))
            # basket facts
            local = at.astimezone(self._store_zones[store])
            c.at_us = _epoch_us(local)
            c.weekday = local.isoweekday()
            c.minute = local.hour * 60 + local.minute
            c.store = store
            c.chain = self._store_chain[store]
            c.has_customer = customer is not None
            c.n_coupon = ncp
            for j in range(ncp):
                c.coupon[j] = self._coupon_index.get(coupons[j], -1)
            for j in range(ncp + 1):
                c.coupon_used[j] = 0
            if customer is not None:
                if customer.points_big:
                    raise _TooLarge()
                c.tier = customer.tier
                c.rate = self._tier_rates[c.tier]
                c.n_seg = 0
                for s in customer.segments:
                    sid = self._segment_index.get(s)
                    if sid is not None:
                        c.seg[c.n_seg] = sid
                        c.n_seg += 1
                c.n_offer = 0
                for o in customer.offers:
                    r = self._promo_rank.get(o)
                    if r is not None:
                        c.offer[c.n_offer] = r
                        c.n_offer += 1
            # candidates
            # cand | slot_of | glob | cnt | bits | mark
            slot_of = <i64 *>malloc(sizeof(i64) * (4 * (self.n_promos + 1) + (self.n_promos >> 6) + 1) + self.n_promos + 1)
            if slot_of == NULL:
                raise MemoryError()
            c.slot_of = slot_of + self.n_promos + 1
            c.glob = slot_of + 2 * (self.n_promos + 1)
            c.cnt = slot_of + 3 * (self.n_promos + 1)
            bits = <unsigned long long *>(slot_of + 4 * (self.n_promos + 1))
            mark = <char *>(slot_of + 4 * (self.n_promos + 1) + (self.n_promos >> 6) + 1)
            static_buf = <i64 *>malloc(sizeof(i64) * (self.n_promos + 1))
            if static_buf == NULL:
                raise MemoryError()
            c.static_ok = static_buf
            c.K = self._candidates(&c, slot_of, mark, bits)
            slots = <i64 *>malloc(sizeof(i64) * (c.K * 9 + self.n_groups + 2))
            if slots == NULL:
                raise MemoryError()
            matrix = <signed char *>malloc(c.K * L + 1)
            if slots == NULL or matrix == NULL:
                raise MemoryError()
            c.cand = slot_of
            c.disc_tot = slots + c.K
            c.pts_tot = slots + 2 * c.K
            c.mult_set = slots + 3 * c.K
            c.active = slots + 4 * c.K
            c.sptr = slots + 5 * c.K      # K + 1 entries
            c.send = slots + 6 * c.K + 1  # K entries
            c.gnext = slots + 7 * c.K + 1
            c.judged = slots + 8 * c.K + 1
            for j in range(c.K):
                c.disc_tot[j] = 0
                c.pts_tot[j] = 0
                c.mult_set[j] = 0
            for j in range(self.n_groups):
                c.judged[j] = 0
            c.C = matrix
            memset(matrix, 0, c.K * L)
            slines = <i64 *>malloc(sizeof(i64) * (self._count_reach(&c, mark) + 1))
            if slines == NULL:
                raise MemoryError()
            c.slines = slines
            self._reach(&c, mark)
            self._link_groups(&c)
            # §4, §5, §6
            self._visit(&c, 0)
            redeem = self._redeem(&c, customer, requested)
            bonus = self._accrue(&c, customer, local)
            if c.too_large:
                raise _TooLarge()
            return self._result(&c, redeem, bonus, coupons)
        finally:
            free(lines_block)
            free(slot_of)
            free(slots)
            free(matrix)
            free(slines)
            free(static_buf)

    cdef _Cust _read_customer(self, object raw):
        """The customer of §2 as the engine needs it; ``None`` for an anonymous sale.

        The usual well-formed customer is read here without building
        Python objects; anything unusual (a wrong type, a bad date, a str
        subclass) goes to the shared reader ``_basket._customer``, which
        gives the twin's exact error or value.
        """
        if raw is None:
            return None
        cdef _Cust cu = _Cust.__new__(_Cust)
        cdef object v
        cdef i64 d
        if type(raw) is not dict:
            return self._customer_slow(raw)
        v = (<dict>raw).get("available_points")
        if v is None:
            cu.points = 0
        elif type(v) is int and v >= 0:
            if v >= LIMIT:
                cu.points_big = True
            else:
                cu.points = v
        else:
            return self._customer_slow(raw)
        v = (<dict>raw).get("tier")
        if v is None:
            cu.tier = 0
        elif type(v) is str:
            cu.tier = self._tier_index.get(v, 0)  # unknown: the first tier
        else:
            return self._customer_slow(raw)
        for key in ("card", "account", "favorite_category"):
            v = (<dict>raw).get(key)
            if v is not None and type(v) is not str:
                return self._customer_slow(raw)
        cu.favorite_category = (<dict>raw).get("favorite_category")
        v = (<dict>raw).get("segments")
        if v is not None and not _plain_strs(v):
            return self._customer_slow(raw)
        cu.segments = v if v is not None else ()
        v = (<dict>raw).get("offers")
        if v is not None and not _plain_strs(v):
            return self._customer_slow(raw)
        cu.offers = v if v is not None else ()
        d = _ymd((<dict>raw).get("birthday"))
        if d < 0:
            return self._customer_slow(raw)
        cu.birthday = d
        d = _ymd((<dict>raw).get("favorite_until"))
        if d < 0:
            return self._customer_slow(raw)
        cu.favorite_until = d
        v = (<dict>raw).get("birthday_bonus_available")
        if v is None:
            cu.birthday_bonus_available = True
        elif type(v) is bool:
            cu.birthday_bonus_available = v
        else:
            return self._customer_slow(raw)
        v = (<dict>raw).get("first_purchase")
        if v is None:
            cu.first_purchase = False
        elif type(v) is bool:
            cu.first_purchase = v
        else:
            return self._customer_slow(raw)
        return cu

    cdef _Cust _customer_slow(self, object raw):
        customer = _customer(raw, self.bundle)  # raises the twin's error
        cdef _Cust cu = _Cust.__new__(_Cust)
        if customer.available_points >= LIMIT:
            cu.points_big = True
        else:
            cu.points = customer.available_points
        cu.tier = self._tier_index[customer.tier.id]
        cu.segments = tuple(customer.segments)
        cu.offers = tuple(customer.offers)
        cu.favorite_category = customer.favorite_category
        b = customer.birthday
        cu.birthday = b.year * 10000 + b.month * 100 + b.day if b is not None else 0
        f = customer.favorite_until
        cu.favorite_until = f.year * 10000 + f.month * 100 + f.day if f is not None else 0
        cu.birthday_bonus_available = customer.birthday_bonus_available
        cu.first_purchase = customer.first_purchase
        return cu

    cdef void _read_lines(self, Ctx *c, list raw_lines) except *:
        cdef int i
        cdef i64 idx, q, price, flags, small
        cdef i128 total = 0, total_q = 0
        cdef unsigned int slot
        # Two passes that only ask memory for what the third will read: each
        # line's table slot, then its item record. The lines' cache misses then
        # overlap instead of queueing one after another (the catalog is far
        # larger than the cache; this is most of a basket's reading time).
        cdef PyObject *borrowed
        for i in range(c.L):  # the sku strings themselves: anywhere in the heap
            line = raw_lines[i]
            if type(line) is dict:
                borrowed = PyDict_GetItem(line, "sku")
                if borrowed != NULL:
                    __builtin_prefetch(borrowed)
        for i in range(c.L):
            line = raw_lines[i]
            if type(line) is dict:
                sku = (<dict>line).get("sku")
                if type(sku) is str:
                    c.tmp[i] = PyObject_Hash(sku) & self.sku_mask
                    __builtin_prefetch(&self.sku_slots[c.tmp[i]])
                    continue
            c.tmp[i] = -1
        for i in range(c.L):
            if c.tmp[i] >= 0:
                slot = self.sku_slots[c.tmp[i]]
                if slot:
                    __builtin_prefetch(&self.items[slot - 1])
        for i in range(c.L):
            line = raw_lines[i]
            if type(line) is not dict:
                raise BasketError("bad_basket", "must be a JSON object", f"lines[{i}]")
            sku = (<dict>line).get("sku")
            idx = self._find_sku(sku) if type(sku) is str else -1
            if idx < 0:
                raise BasketError("bad_basket", f"unknown sku {sku!r}", f"lines[{i}].sku")
            qty = (<dict>line).get("qty")
            if type(qty) is int:
                small = _small_int(qty) * 1000
            elif type(qty) is str:
                small = _qty_text(<str>qty)
            else:
                small = 0
            if small > 0:
                q = small
            else:
                milli = parse_qty_milli(qty)
                if milli is None or milli == 0:
                    raise BasketError("bad_basket", f"quantity must be > 0 with at most 3 decimals, not {qty!r}", f"lines[{i}].qty")
                if milli >= LIMIT:
                    raise _TooLarge()
                q = milli
            flags = self.items[idx].flags
            if not (flags & KG) and q % 1000:
                raise BasketError("bad_basket", f"{sku} is sold by the piece; {qty} is not a whole number", f"lines[{i}].qty")
            c.item[i] = idx
            c.flags[i] = flags
            c.q[i] = q
            price = self.items[idx].price
            c.amount[i] = _fit(c, (<i128>price * q * 2 + 1000) // 2000)
            if flags & NO_DISCOUNT:
                c.floor[i] = c.amount[i]
            else:
                c.floor[i] = _fit(c, (<i128>self.items[idx].min_price * q * 2 + 1000) // 2000)
            c.disc[i] = 0
            c.closed[i] = 0
            c.redeemed[i] = 0
            c.base[i] = 0
            c.points[i] = 0
            c.mult[i] = 100
            c.mult_slot[i] = -1
            total += c.amount[i]
            total_q += q
        if c.too_large or total > C_LIMIT or total_q > C_LIMIT:
            raise _TooLarge()

    cdef int _candidates(self, Ctx *c, i64 *cand, char *mark, unsigned long long *bits) noexcept:
        """The promotions that can apply to this basket, in visit order.

        A promotion some line reaches is kept when its static conditions
        (time, store, customer, coupon) hold: ``mark`` 2. The first member
        of a group with a kept member is kept too, as the group's turn
        (§4: a group is judged at its first member's turn), with ``mark`` 3
        when it cannot apply itself. ``mark`` 1: reached, never applies.

        Promotions without targets are reached through the one condition
        that gates them (a coupon, a personal offer, a tier) or, ungated,
        by every basket: a basket never looks at the offers it cannot open.
        Their kept ones are also listed in ``c.glob`` for the line lists.
        """
        cdef int K = 0, n = 0, ng, l, j, jj, w, words = (self.n_promos + 63) >> 6
        cdef i64 r, g, k
        cdef unsigned long long word
        memset(mark, 0, self.n_promos)
        for j in range(self.n_open):
            r = self.global_open[j]
            mark[r] = 1
            cand[n] = r
            n += 1
        for j in range(c.n_coupon):
            k = c.coupon[j]
            if k < 0:
                continue
            for jj in range(self.global_by_coupon.ptr[k], self.global_by_coupon.ptr[k + 1]):
                r = self.global_by_coupon.data[jj]
                if not mark[r]:
                    mark[r] = 1
                    cand[n] = r
                    n += 1
        for j in range(c.n_offer):
            r = c.offer[j]
            if self.global_gate[r] and not mark[r]:
                mark[r] = 1
                cand[n] = r
                n += 1
        if c.has_customer:
            for jj in range(self.global_by_tier.ptr[c.tier], self.global_by_tier.ptr[c.tier + 1]):
                r = self.global_by_tier.data[jj]
                if not mark[r]:
                    mark[r] = 1
                    cand[n] = r
                    n += 1
        ng = n
        for l in range(c.L):  # and count each one's (line, promotion) pairs for _count_reach
            for j in range(self.items[c.item[l]].tgt_lo, self.items[c.item[l]].tgt_hi):
                r = self.item_targets[j]
                if not mark[r]:
                    mark[r] = 1
                    cand[n] = r
                    n += 1
                    c.cnt[r] = 1
                else:
                    c.cnt[r] += 1
        memset(bits, 0, words * sizeof(unsigned long long))
        c.n_glob = 0
        for j in range(n):
            r = cand[j]
            if not self._static_rank(c, r):
                continue
            mark[r] = 2
            bits[r >> 6] |= 1ULL << (r & 63)
            if j < ng:
                c.glob[c.n_glob] = r
                c.n_glob += 1
            g = self.hot[r].group
            if g >= 0:
                r = self.group_first[g]
                if mark[r] < 2:
                    mark[r] = 3
                    bits[r >> 6] |= 1ULL << (r & 63)
        # visit order: the set bits in rank order
        j = 0
        for w in range(words):
            word = bits[w]
            while word:
                r = (<i64>w << 6) + __builtin_ctzll(word)
                word &= word - 1
                cand[j] = r
                j += 1
        K = j
        for j in range(K):
            c.slot_of[cand[j]] = j
            c.static_ok[j] = 1 if mark[cand[j]] == 2 else 0
        return K

    cdef void _link_groups(self, Ctx *c) noexcept:
        """Chain each group's candidate members in visit order (c.gnext)."""
        cdef int s
        cdef i64 g
        for s in range(self.n_groups):
            c.judged[s] = -1
        for s in range(c.K - 1, -1, -1):
            g = self.hot[c.cand[s]].group
            c.gnext[s] = -1
            if g >= 0:
                c.gnext[s] = c.judged[g]
                c.judged[g] = s
        for s in range(self.n_groups):
            c.judged[s] = 0

    cdef i64 _count_reach(self, Ctx *c, char *mark) noexcept:
        """Size the per-slot line lists: (line, promotion) pairs of slots that can apply.

        Also sets ``c.sptr``. A slot whose static conditions fail (time,
        store, customer, coupon) gets an empty list: it can never apply.
        """
        cdef int s, l, j, jj, L = c.L, K = c.K
        cdef i64 key, r, total = 0
        for s in range(K):
            r = c.cand[s]
            # promotions without targets are in no item's run: their count is never read
            c.send[s] = c.cnt[r] if mark[r] == 2 and self.hot[r].targeted else 0
        for j in range(c.n_glob):
            c.send[c.slot_of[c.glob[j]]] += L
        for s in range(K):
            c.sptr[s] = total
            total += c.send[s]
        c.sptr[K] = total
        return total

    cdef void _reach(self, Ctx *c, char *mark) noexcept:
        """Fill each slot's list of eligible lines (ascending, no repeats)."""
        cdef int s, l, j, jj, L = c.L, K = c.K
        cdef i64 key, r, fl, e, k
        cdef int n_open = 0
        for s in range(K):
            c.send[s] = c.sptr[s]
        # global promotions that can apply at all (their slots, kept in c.active for now)
        for j in range(c.n_glob):
            c.active[n_open] = c.slot_of[c.glob[j]]
            n_open += 1
        for l in range(L):
            fl = c.flags[l]
            for j in range(n_open):
                s = <int>c.active[j]
                if self._flag_ok(c.cand[s], fl):
                    c.slines[c.send[s]] = l
                    c.send[s] += 1
            for j in range(self.items[c.item[l]].tgt_lo, self.items[c.item[l]].tgt_hi):
                r = self.item_targets[j]
                if mark[r] != 2 or not self._flag_ok(r, fl):
                    continue
                s = <int>c.slot_of[r]
                c.slines[c.send[s]] = l
                c.send[s] += 1
            # exclusions take the line out again
            for j in range(self.items[c.item[l]].exc_lo, self.items[c.item[l]].exc_hi):
                r = self.item_excludes[j]
                if mark[r] != 2:
                    continue
                s = <int>c.slot_of[r]
                if c.send[s] > c.sptr[s] and c.slines[c.send[s] - 1] == l:
                    c.send[s] -= 1

    cdef inline bint _flag_ok(self, i64 r, i64 fl) noexcept:
        """Item flags close a line to whole phases (§3 "Eligible line")."""
        if fl == 0:
            return True
        if self.hot[r].phase == 2:
            return not (fl & NO_ACCRUAL)
        return not ((fl & NO_DISCOUNT) or (self.hot[r].kind == K_NFORM and (fl & KG)))

    # -- §3 applicability -----------------------------------------------------------------

    cdef bint _static_ok(self, Ctx *c, int s) noexcept:
        return c.static_ok[s] == 1

    cdef bint _static_rank(self, Ctx *c, i64 r) noexcept:
        """The conditions of §3 that do not depend on the lines' state."""
        cdef i64 j, jj
        cdef bint ok = True, hit
        if not self.hot[r].cond:
            return True
        if self.P[(r) * NF + F_HAS_FROM] and c.at_us < self.P[(r) * NF + F_FROM]:
            ok = False
        elif self.P[(r) * NF + F_HAS_UNTIL] and not c.at_us < self.P[(r) * NF + F_UNTIL]:
            ok = False
        elif self.P[(r) * NF + F_DAYS] and not ((self.P[(r) * NF + F_DAYS] >> c.weekday) & 1):
            ok = False
        elif self.P[(r) * NF + F_NEED_CUSTOMER] and not c.has_customer:
            ok = False
        elif self.P[(r) * NF + F_PERSONAL] and not c.has_customer:
            ok = False
        if ok and self.p_hours.ptr[r] < self.p_hours.ptr[r + 1]:
            hit = False
            j = self.p_hours.ptr[r]
            while j < self.p_hours.ptr[r + 1]:
                if self.p_hours.data[j] <= c.minute < self.p_hours.data[j + 1]:
                    hit = True
                    break
                j += 2
            ok = hit
        if ok and self.p_chains.ptr[r] < self.p_chains.ptr[r + 1]:
            ok = c.chain >= 0 and _in_row(self.p_chains, r, c.chain)
        if ok and self.p_stores.ptr[r] < self.p_stores.ptr[r + 1]:
            ok = _in_row(self.p_stores, r, c.store)
        if ok and self.p_tiers.ptr[r] < self.p_tiers.ptr[r + 1]:
            ok = c.has_customer and _in_row(self.p_tiers, r, c.tier)
        if ok and self.p_segments.ptr[r] < self.p_segments.ptr[r + 1]:
            hit = False
            if c.has_customer:
                for j in range(c.n_seg):
                    if _in_row(self.p_segments, r, c.seg[j]):
                        hit = True
                        break
            ok = hit
        if ok and self.P[(r) * NF + F_PERSONAL]:
            hit = False
            for j in range(c.n_offer):
                if c.offer[j] == r:
                    hit = True
                    break
            ok = hit
        if ok and self.P[(r) * NF + F_COUPON] >= 0:
            hit = False
            for j in range(c.n_coupon):
                if c.coupon[j] == self.P[(r) * NF + F_COUPON]:
                    hit = True
                    break
            ok = hit
        return ok

    cdef int _applicable(self, Ctx *c, int s) noexcept:
        """Fill c.touched with the lines slot ``s`` touches; -1 when it does not apply."""
        if not self._static_ok(c, s):
            return -1
        cdef i64 r = c.cand[s], sum_q = 0, sum_amount = 0
        cdef int l, n = 0, L = c.L
        cdef bint bonus = self.hot[r].phase == 2
        cdef bint stack = self.hot[r].stack
        cdef i64 j
        for j in range(c.sptr[s], c.send[s]):
            l = c.slines[j]
            if not bonus and (c.closed[l] or (not stack and c.disc[l] != 0)):
                continue
            c.touched[n] = l
            n += 1
            sum_q += c.q[l]
            sum_amount += c.base[l] if bonus else c.amount[l] - c.disc[l]
        if n == 0 or sum_q < self.P[(r) * NF + F_MIN_QTY] or sum_amount < self.P[(r) * NF + F_MIN_AMOUNT]:
            return -1
        if self.P[(r) * NF + F_COUPON] >= 0:
            for l in range(c.n_coupon):
                if c.coupon[l] == self.P[(r) * NF + F_COUPON]:
                    c.coupon_used[l] = 1
        return n

    # -- §4 discounts and §6 bonus points: effects and the visit ---------------------------

    cdef i64 _effect(self, Ctx *c, int s, int n) noexcept:
        """What slot ``s`` gives its ``n`` touched lines, into c.tmp (by line)."""
        cdef i64 r = c.cand[s], kind = self.P[(r) * NF + F_KIND], value = self.P[(r) * NF + F_VALUE]
        cdef int j, k, l, L = c.L
        cdef i64 d, cur, room, total = 0, units, U, free, base_sum, key_c, key_u
        cdef i128 D
        cdef bint all_zero
        if kind == K_BPERCENT or kind == K_BAMOUNT:
            base_sum = 0
            for j in range(n):
                l = c.touched[j]
                c.w[j] = c.amount[l] - c.disc[l]
                c.cap[j] = c.amount[l] - c.disc[l] - c.floor[l]
                base_sum += c.w[j]
            D = _rhu(<i128>base_sum * value, 10000) if kind == K_BPERCENT else value
            _allocate(c, <i64>D, n)
            for j in range(n):
                c.tmp[c.touched[j]] = c.out[j]
                total += c.out[j]
            return total
        if kind == K_BPOINTS:
            if self.P[(r) * NF + F_PER_UNIT]:
                for j in range(n):
                    l = c.touched[j]
                    d = value if (c.flags[l] & KG) else _fit(c, <i128>value * (c.q[l] // 1000))
                    c.tmp[l] = d
                    total += d
                return total
            all_zero = True
            for j in range(n):
                c.w[j] = c.base[c.touched[j]]
                c.cap[j] = INF
                if c.w[j] != 0:
                    all_zero = False
            if all_zero:
                for j in range(n):
                    c.w[j] = 1
            _allocate(c, value, n)
            for j in range(n):
                c.tmp[c.touched[j]] = c.out[j]
                total += c.out[j]
            return total
        if kind == K_NFORM:
            # order touched lines by unit price (current / units), ties by line
            for j in range(1, n):
                l = c.touched[j]
                k = j
                while k > 0 and _cheaper(c, l, c.touched[k - 1]):
                    c.touched[k] = c.touched[k - 1]
                    k -= 1
                c.touched[k] = l
            U = 0
            for j in range(n):
                U += c.q[c.touched[j]] // 1000
            free = (U // self.P[(r) * NF + F_N]) * (self.P[(r) * NF + F_N] - self.P[(r) * NF + F_M])
        for j in range(n):
            l = c.touched[j]
            cur = c.amount[l] - c.disc[l]
            room = cur - c.floor[l]
            if kind == K_PERCENT:
                d = _rhu(<i128>cur * value, 10000)
            elif kind == K_AMOUNT_OFF:
                d = _fit(c, _rhu(<i128>value * c.q[l], 1000))
            elif kind == K_FIXED:
                d = cur - _fit(c, _rhu(<i128>value * c.q[l], 1000))
                if d < 0:
                    d = 0
            else:  # n_for_m
                units = c.q[l] // 1000
                k = <int>(free if free < units else units)
                free -= k
                d = _rhu(<i128>cur * k, units)
            if d > room:
                d = room
            c.tmp[l] = d
            total += d
        return total

    cdef void _give(self, Ctx *c, int s, i64 *lines, int n, i64 *by_line) noexcept:
        cdef i64 r = c.cand[s], d
        cdef int l, j, L = c.L
        cdef bint bonus = self.hot[r].phase == 2
        for j in range(n):
            l = lines[j]
            d = by_line[l]
            if d <= 0:
                continue
            c.C[s * L + l] = 1
            if bonus:
                c.points[l] += d
                c.pts_tot[s] += d
            else:
                c.disc[l] += d
                c.disc_tot[s] += d
                if not self.hot[r].stack:
                    c.closed[l] = 1

    cdef void _visit(self, Ctx *c, int bonus) noexcept:
        """Visit discount (bonus=0) or bonus_points (bonus=1) promotions in order."""
        cdef int s, t, n, best_slot, best_n = 0, L = c.L, l
        cdef i64 r, g, total, best_total
        cdef i64 *swap
        for s in range(c.K):
            r = c.cand[s]
            if bonus:
                if self.hot[r].kind != K_BPOINTS:
                    continue
            elif self.hot[r].phase == 2:
                continue
            g = self.hot[r].group
            if g < 0:
                n = self._applicable(c, s)
                if n >= 0 and self._effect(c, s, n) > 0:
                    self._give(c, s, c.touched, n, c.tmp)
                continue
            if c.judged[g]:
                continue
            c.judged[g] = 1
            best_slot = -1
            best_total = 0
            t = s
            while t >= 0:
                n = self._applicable(c, t)
                if n < 0:
                    t = <int>c.gnext[t]
                    continue
                total = self._effect(c, t, n)
                if total > best_total:
                    best_total = total
                    best_slot = t
                    best_n = n
                    swap = c.best
                    c.best = c.tmp
                    c.tmp = swap
                    for l in range(n):
                        c.best_touched[l] = c.touched[l]
                t = <int>c.gnext[t]
            if best_slot >= 0:
                self._give(c, best_slot, c.best_touched, best_n, c.best)

    # -- §5 redemption --------------------------------------------------------------------

    cdef tuple _redeem(self, Ctx *c, _Cust customer, object requested):
        cdef int l, n = 0, L = c.L
        cdef i64 available = customer.points if customer is not None else 0
        cdef i64 sum_cur = 0, sum_room = 0, cap_amount, max_points, points, req
        cdef i64 pv = self.point_value
        for l in range(L):
            if c.flags[l] & NO_REDEEM:
                continue
            c.touched[n] = l
            c.w[n] = c.amount[l] - c.disc[l]
            c.cap[n] = c.w[n] - c.floor[l]
            sum_cur += c.w[n]
            sum_room += c.cap[n]
            n += 1
        cap_amount = <i64>((<i128>sum_cur * self.redeem_cap_bp) // 10000)
        max_points = (cap_amount if cap_amount < sum_room else sum_room) // pv
        if available < max_points:
            max_points = available
        is_max = requested == MAX and isinstance(requested, str)
        if is_max:
            points = max_points
        else:
            req = requested if requested < LIMIT else LIMIT
            points = req if req < max_points else max_points
        _allocate(c, points * pv, n)
        for l in range(n):
            c.redeemed[c.touched[l]] = c.out[l]
        if not is_max and points == requested:
            limited_by = "none"
        elif available == max_points:
            limited_by = "balance"
        elif cap_amount // pv == max_points:
            limited_by = "cap"
        else:
            limited_by = "floor"
        return (requested, max_points, points, limited_by)

    # -- §6 accrual -----------------------------------------------------------------------

    cdef tuple _accrue(self, Ctx *c, _Cust customer, object local):
        if customer is None:
            return (0, 0, 0, 0)
        cdef int s, l, n, L = c.L
        cdef i64 r, fav_key = -1, base_points = 0, promo_points = 0, j, fav, best, m
        cdef i128 acc_sum = 0
        cdef bint fav_ok
        for l in range(L):
            c.base[l] = (c.amount[l] - c.disc[l]) if self.accrue_on_redeemed else (c.amount[l] - c.disc[l] - c.redeemed[l])
        cdef i64 year = local.year, month = local.month, day = local.day
        fav_ok = customer.favorite_category is not None and (
            customer.favorite_until == 0 or year * 10000 + month * 100 + day <= customer.favorite_until)
        if fav_ok:
            fav_key = self._prefix_index.get(customer.favorite_category, -1)
        # best applicable multiplier per line: earliest slot among equal values
        for s in range(c.K):
            r = c.cand[s]
            if self.hot[r].kind != K_MULT:
                continue
            n = self._applicable(c, s)
            for j in range(n if n > 0 else 0):
                l = c.touched[j]
                if c.mult_slot[l] < 0 or self.P[(r) * NF + F_VALUE] > c.mult[l]:
                    c.mult[l] = self.P[(r) * NF + F_VALUE]
                    c.mult_slot[l] = s
        for l in range(L):
            if c.flags[l] & NO_ACCRUAL:
                c.w[l] = 0
                continue
            fav = 100
            if fav_key >= 0:
                for j in range(self.item_keys.ptr[c.item[l]], self.item_keys.ptr[c.item[l] + 1]):
                    if self.item_keys.data[j] == fav_key:
                        fav = self.favorite_pct
                        break
            best = c.mult[l] if c.mult_slot[l] >= 0 else 0
            if c.mult_slot[l] >= 0 and best > 100 and best > fav:
                c.C[c.mult_slot[l] * L + l] = 1
                c.mult_set[c.mult_slot[l]] = 1
            m = 100
            if fav > m:
                m = fav
            if best > m:
                m = best
            c.w[l] = _fit(c, (<i128>c.base[l] * c.rate * m * 1000) // (<i128>1000000 * self.point_value))
            acc_sum += c.w[l]
        base_points = _fit(c, acc_sum // 1000)
        for l in range(L):
            c.cap[l] = INF
        _allocate(c, base_points, L)
        for l in range(L):
            c.points[l] = c.out[l]
        self._visit(c, 1)
        for s in range(c.K):
            promo_points += c.pts_tot[s]
        welcome = self.welcome_points if customer.first_purchase else 0
        birthday = 0
        cdef i64 b_month = customer.birthday // 100 % 100, b_day = customer.birthday % 100
        if customer.birthday != 0 and customer.birthday_bonus_available:
            if b_month == 2 and b_day == 29 and not _is_leap(<int>year):
                b_day = 28
            if month == b_month and day == b_day:
                birthday = self.birthday_points
        return (base_points, promo_points, welcome, birthday)

    # -- §7 result ------------------------------------------------------------------------

    cdef object _result(self, Ctx *c, tuple redeem, tuple bonus, list coupons):
        """The priced basket, kept as C arrays (``_Priced``) until §7 is asked for."""
        cdef int l, s, a, L = c.L, K = c.K, n_active = 0
        cdef i64 j, n_promos = 0, size, at
        cdef i64 *out
        # the slots that gave anything, in visit order; and how many (line, promotion) pairs
        for s in range(K):
            if c.disc_tot[s] > 0 or c.pts_tot[s] > 0 or c.mult_set[s]:
                c.active[n_active] = s
                n_active += 1
                for j in range(c.sptr[s], c.send[s]):
                    n_promos += c.C[s * L + c.slines[j]]
        cdef _Priced res = _Priced.__new__(_Priced)
        size = L * PL + (L + 1) + n_promos + n_active * 3
        res.buf = <i64 *>malloc(sizeof(i64) * size)
        if res.buf == NULL:
            raise MemoryError()
        res.L = L
        res.n_active = n_active
        res.skus = self._skus
        res.ids = self._promo_ids
        res.redeem = redeem
        res.bonus = bonus
        out = res.buf
        for l in range(L):
            out[PL * l + P_ITEM] = c.item[l]
            out[PL * l + P_Q] = c.q[l]
            out[PL * l + P_AMOUNT] = c.amount[l]
            out[PL * l + P_DISC] = c.disc[l]
            out[PL * l + P_REDEEMED] = c.redeemed[l]
            out[PL * l + P_POINTS] = c.points[l]
            res.amount += c.amount[l]
            res.discount += c.disc[l]
            res.redeemed += c.redeemed[l]
            res.points += c.points[l]
            c.tmp[l] = 0
        res.paid = res.amount - res.discount - res.redeemed
        res.points += bonus[2] + bonus[3]
        # each line's promotions in visit order, as a compressed row per line
        cdef i64 *ptr = out + L * PL
        cdef i64 *data = ptr + L + 1
        for a in range(n_active):
            s = <int>c.active[a]
            for j in range(c.sptr[s], c.send[s]):
                l = <int>c.slines[j]
                c.tmp[l] += c.C[s * L + l]
        at = 0
        for l in range(L):
            ptr[l] = at
            at += c.tmp[l]
            c.tmp[l] = ptr[l]
        ptr[L] = at
        for a in range(n_active):
            s = <int>c.active[a]
            for j in range(c.sptr[s], c.send[s]):
                l = <int>c.slines[j]
                if c.C[s * L + l]:
                    data[c.tmp[l]] = c.cand[s]
                    c.tmp[l] += 1
        cdef i64 *app = data + n_promos
        for a in range(n_active):
            s = <int>c.active[a]
            app[3 * a] = c.cand[s]
            app[3 * a + 1] = c.disc_tot[s]
            app[3 * a + 2] = c.pts_tot[s]
        rejected = []
        for s in range(c.n_coupon):
            if not c.coupon_used[s]:
                rejected.append(coupons[s])
        res.rejected = rejected
        return Result(None, res)


cdef class _Priced:
    """One priced basket as C integers; ``build()`` makes the §7 dicts.

    A till shows a priced basket and the ledger's audit compares a day of
    them, but most of the cost of a result is its ~110 Python dicts: they
    are made only when asked for (``Result.to_json``).
    """

    def __dealloc__(self):
        free(self.buf)

    @property
    def paid_total(self):
        return self.paid

    @property
    def points_total(self):
        return self.points

    def build(self):
        """The §7 object (same content as the reference twin's).

        Its lists and dicts hold only strings, ints and each other, so they
        are taken off the cyclic collector's lists, as CPython itself does
        for dicts and tuples of atomic values: a batch of results kept alive
        (the ledger's audit) then costs the collector nothing. A dict given
        a container later is tracked again by CPython; a list is not, so a
        caller who builds a reference cycle through one would only leak it.
        """
        cdef int l, a, L = self.L
        cdef i64 q, j, amount, disc, red
        cdef i64 *out = self.buf
        cdef i64 *ptr = out + L * PL
        cdef i64 *data = ptr + L + 1
        cdef i64 *app = data + ptr[L]
        cdef tuple skus = self.skus, ids = self.ids
        cdef list lines = [None] * L
        cdef list promos
        for l in range(L):
            q = out[PL * l + P_Q]
            if q < 1000000:
                qty = _QTY_CACHE[q // 1000] if q % 1000 == 0 else _QTY_CACHE[q // 1000] + _FRAC_CACHE[q % 1000]
            else:
                qty = qty_text(q)
            promos = [None] * (ptr[l + 1] - ptr[l])
            for j in range(ptr[l], ptr[l + 1]):
                promos[j - ptr[l]] = ids[data[j]]
            amount = out[PL * l + P_AMOUNT]
            disc = out[PL * l + P_DISC]
            red = out[PL * l + P_REDEEMED]
            line = {
                "sku": skus[out[PL * l + P_ITEM]],
                "qty": qty,
                "amount": amount,
                "discount": disc,
                "redeemed": red,
                "paid": amount - disc - red,
                "points": out[PL * l + P_POINTS],
                "promos": promos,
            }
            PyObject_GC_UnTrack(promos)
            PyObject_GC_UnTrack(line)
            lines[l] = line
        cdef list applied = [None] * self.n_active
        for a in range(self.n_active):
            applied[a] = {"promo": ids[app[3 * a]], "discount": app[3 * a + 1], "points": app[3 * a + 2]}
        requested, max_points, points, limited_by = self.redeem
        base_points, promo_points, welcome, birthday = self.bonus
        PyObject_GC_UnTrack(lines)
        PyObject_GC_UnTrack(applied)
        PyObject_GC_UnTrack(self.rejected)
        out_json = {
            "lines": lines,
            "applied": applied,
            "totals": {"amount": self.amount, "discount": self.discount, "redeemed_points": points,
                       "redeemed": self.redeemed, "paid": self.paid, "points": self.points},
            "bonus": {"lines": base_points, "promo": promo_points, "welcome": welcome, "birthday": birthday},
            "redeem": {"requested": requested, "max_points": max_points, "points": points, "limited_by": limited_by},
            "rejected_coupons": self.rejected,
        }
        PyObject_GC_UnTrack(out_json)
        return out_json


cdef class _Cust:
    """A checked customer (§2), fields as the engine reads them; dates as YYYYMMDD (0: none)."""


cdef inline bint _plain_strs(object v):
    """A list of exact ``str`` (what ``_basket._strs`` accepts, minus subclasses)."""
    if type(v) is not list:
        return False
    for x in <list>v:
        if type(x) is not str:
            return False
    return True


cdef i64 _ymd(object v) except? -2:
    """``YYYY-MM-DD`` as YYYYMMDD; 0 for None; -1 when not a valid date (as ``parse_date``)."""
    if v is None:
        return 0
    if type(v) is not str or len(<str>v) != 10:
        return -1
    cdef str t = <str>v
    cdef int k
    cdef Py_UCS4 ch
    cdef i64 y = 0, m = 0, d = 0
    for k in range(10):
        ch = t[k]
        if k == 4 or k == 7:
            if ch != 45:  # '-'
                return -1
        elif not (48 <= ch <= 57):
            return -1
        elif k < 4:
            y = y * 10 + (<i64>ch - 48)
        elif k < 7:
            m = m * 10 + (<i64>ch - 48)
        else:
            d = d * 10 + (<i64>ch - 48)
    if y < 1 or m < 1 or m > 12 or d < 1:
        return -1
    if d > 31 or (m in (4, 6, 9, 11) and d > 30) or (m == 2 and d > (29 if _is_leap(<int>y) else 28)):
        return -1
    return y * 10000 + m * 100 + d


cdef inline bint _cheaper(Ctx *c, int a, int b) noexcept:
    """Is a unit of line ``a`` cheaper than one of line ``b`` (ties: lower line first)?"""
    cdef i128 ca = c.amount[a] - c.disc[a], cb = c.amount[b] - c.disc[b]
    cdef i128 ua = c.q[a] // 1000, ub = c.q[b] // 1000
    cdef i128 left = ca * ub, right = cb * ua
    if left != right:
        return left < right
    return a < b


cdef inline bint _is_leap(int year) noexcept:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
