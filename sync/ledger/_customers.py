"""Store customer caches: which cards each store's tills can identify offline.

spec/till.md §2a: a store's cache holds every member whose ``home_store``
is that store and every card that bought there in the last 90 days; with
``program.customer_cache = "all"`` every member (the pseudo-store ``*``).
Each entry carries what the engine needs and the balance at delivery.

How (docs/ledger.md, "Store customer caches"): ``store_customers`` holds
one row per (store, card) with the entry as JSON text, the ``rev`` at
which it last changed, and a NULL body for a card deleted from that store
(a tombstone a till at an older rev still needs). A till keeps a cursor
(``rev:epoch:scope``); its next answer lists the rows above that rev. Every
write bumps the one-row ``customer_cache`` counter first and so holds its
row lock until commit: writers commit in rev order, and a reader that reads
the counter before the rows never skips a change.

Writers: a members import or removal (at once, in its own transaction),
and ``refresh`` (on a till's bundle request, at most every
``refresh_s``), which reads the journal (balance changes of any kind),
the points that stopped being pending and the tier changes
(``_lots.changed_since``) and the sales (recent buyers) received since the last refresh, with a
margin for uploads that were still committing, and drops buyers older
than 90 days.
"""
from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from . import _lots
from ._clock import parse_utc_text, utc_text
from ._storage import Tx

log = logging.getLogger(__name__)

#: The wire order of an entry (docs/sync-protocol.md, "Store customers").
FIELDS = ("card", "account", "tier", "segments", "offers", "birthday",
          "birthday_bonus_available", "favorite_category", "favorite_until",
          "first_purchase", "balance")
ALL = "*"
BUYER_DAYS = 90
#: uploads whose ``now`` was taken before a refresh may commit after it
MARGIN = timedelta(seconds=120)
_CHUNK = 500

_CARD_COLS = ("card, account, tier, segments, offers, birthday, favorite_category, "
              "favorite_until, home_store")


def _chunks(keys: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(keys), _CHUNK):
        yield keys[i:i + _CHUNK]


def _select_in(tx: Tx, sql: str, prefix: tuple[Any, ...], keys: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for part in _chunks(list(keys)):
        out += tx.all(sql.format(",".join("?" * len(part))), (*prefix, *part))
    return out


def _accounts(tx: Tx, accounts: Iterable[str], now: str
              ) -> dict[str, tuple[int, int, int | None]]:
    """account → (spendable points, sales, birthday_bonus_year).

    The balance a till holds is what it may spend: points still pending
    (within ``program.hold_days``) are left out, like the token's ``bal``.
    """
    keys = sorted(set(accounts))
    pending = _lots.pending_of(tx, keys, now)
    return {str(r[0]): (int(r[1]) - pending.get(str(r[0]), 0), int(r[2]),
                        None if r[3] is None else int(r[3]))
            for r in _select_in(tx, "SELECT account, points, sales, birthday_bonus_year "
                                "FROM accounts WHERE account IN ({})", (), keys)}


def body(card: Sequence[Any], acc: tuple[int, int, int | None] | None, year: int) -> str:
    """The entry of one card (a ``cards`` row) and its account, as wire JSON text."""
    points, sales, bonus_year = acc if acc is not None else (0, 0, None)
    entry = [card[0], card[1], card[2], json.loads(card[3]), json.loads(card[4]), card[5],
             bonus_year != year, card[6], card[7], sales == 0, points]
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


class _Rev:
    """The rev of this transaction's writes, taken (the counter bumped) on first use."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self.value: int | None = None

    def __call__(self) -> int:
        if self.value is None:
            self.tx.execute("UPDATE customer_cache SET rev = rev + 1 WHERE id = 1")
            row = self.tx.one("SELECT rev FROM customer_cache WHERE id = 1")
            assert row is not None
            self.value = int(row[0])
        return self.value


def _put(tx: Tx, rows: list[tuple[Any, ...]]) -> None:
    """Upsert (store, card, account, rev, home, last_bought, body) rows."""
    if rows:
        tx.executemany(
            "INSERT INTO store_customers (store, card, account, rev, home, last_bought, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (store, card) DO UPDATE SET "
            "account = excluded.account, rev = excluded.rev, home = excluded.home, "
            "last_bought = excluded.last_bought, body = excluded.body", rows)


def _live(tx: Tx, cards: Sequence[str]) -> dict[str, dict[str, tuple[Any, ...]]]:
    """card → {store: (home, last_bought, body)} of the rows held now (tombstones too)."""
    out: dict[str, dict[str, tuple[Any, ...]]] = {}
    for r in _select_in(tx, "SELECT card, store, home, last_bought, body FROM store_customers "
                        "WHERE card IN ({})", (), cards):
        out.setdefault(str(r[0]), {})[str(r[1])] = (int(r[2]), r[3], r[4])
    return out


def _year(now: str) -> int:
    return int(now[:4])


def _cutoff(now: str) -> str:
    return utc_text(parse_utc_text(now) - timedelta(days=BUYER_DAYS))


def sync_cards(tx: Tx, cards: Sequence[str], now: str, rev: _Rev | None = None) -> int:
    """Bring every cache row of ``cards`` in line with ``cards``/``accounts``; return rows written.

    A card's rows: ``*`` (every member), its home store, and every store it
    bought at within 90 days; a row no longer owed becomes a tombstone; a
    removed card (no ``cards`` row) loses them all.
    """
    if not cards:
        return 0
    profiles = {str(r[0]): r for r in _select_in(
        tx, f"SELECT {_CARD_COLS} FROM cards WHERE card IN ({{}})", (), cards)}
    accs = _accounts(tx, (str(r[1]) for r in profiles.values()), now)
    held = _live(tx, cards)
    year, cutoff = _year(now), _cutoff(now)
    writes: list[tuple[Any, ...]] = []
    for card in cards:
        prof = profiles.get(card)
        rows = held.get(card, {})
        if prof is None:
            writes += [(s, card, "", None, 0, lb, None) for s, (h, lb, b) in rows.items()
                       if b is not None]
            continue
        text = body(prof, accs.get(str(prof[1])), year)
        want = {ALL: 0}
        if prof[8]:
            want[str(prof[8])] = 1
        for store, (_home, bought, _b) in rows.items():
            if store != ALL and bought is not None and bought >= cutoff:
                want.setdefault(store, 0)
        for store, home in want.items():
            old = rows.get(store)
            bought = old[1] if old else None
            if old is None or old[2] != text or old[0] != home:
                writes.append((store, card, prof[1], None, home, bought, text))
        for store, (_home, bought, b) in rows.items():
            if store not in want and b is not None:
                writes.append((store, card, prof[1], None, 0, bought, None))
    if writes:
        n = (rev or _Rev(tx))()
        _put(tx, [(*w[:3], n, *w[4:]) for w in writes])
    return len(writes)


def ensure_built(tx: Tx, now: str) -> None:
    """The first use fills the caches from every member and the last 90 days of sales."""
    row = tx.one("SELECT built FROM customer_cache WHERE id = 1")
    if row is None or int(row[0]):
        return
    rev = _Rev(tx)
    cards = [str(r[0]) for r in tx.all("SELECT card FROM cards ORDER BY card")]
    for part in _chunks(cards):
        sync_cards(tx, part, now, rev)
    _buyers(tx, _cutoff(now), now, rev)
    tx.execute("UPDATE customer_cache SET built = 1, refreshed_at = ? WHERE id = 1", (now,))
    log.info("store customer caches built from %d members", len(cards))


def _buyers(tx: Tx, since: str, now: str, rev: _Rev) -> int:
    """Add every card of an account that bought at a store since ``since`` to that store."""
    rows = tx.all("SELECT store, account, MAX(received_at) FROM sales WHERE received_at > ? "
                  "AND kind = 'sale' GROUP BY store, account", (since,))
    bought: dict[str, dict[str, str]] = {}
    for store, account, at in rows:
        if not str(account).startswith("anon:"):
            bought.setdefault(str(account), {})[str(store)] = str(at)
    if not bought:
        return 0
    profiles = _select_in(tx, f"SELECT {_CARD_COLS} FROM cards WHERE account IN ({{}})", (),
                          sorted(bought))
    accs = _accounts(tx, bought, now)
    held = _live(tx, [str(p[0]) for p in profiles])
    year = _year(now)
    writes = []
    for prof in profiles:
        card, account = str(prof[0]), str(prof[1])
        text = body(prof, accs.get(account), year)
        for store, at in bought[account].items():
            old = held.get(card, {}).get(store)
            home = old[0] if old else 0
            last = max(at, old[1]) if old and old[1] else at
            if old is None or old[2] != text:
                writes.append((store, card, account, rev(), home, last, text))
            elif old[1] != last:
                tx.execute("UPDATE store_customers SET last_bought = ? WHERE store = ? "
                           "AND card = ?", (last, store, card))
    _put(tx, writes)
    return len(writes)


def refresh(tx: Tx, now: str, every_s: float, kind: str) -> bool:
    """Fold balance changes, new buyers and lapsed buyers into the caches (if due)."""
    def due(row: Any) -> bool:
        last = str(row[2])
        return not int(row[1]) or not last or (
            parse_utc_text(now) - parse_utc_text(last)).total_seconds() >= every_s

    peek = tx.one("SELECT rev, built, refreshed_at FROM customer_cache WHERE id = 1")
    if peek is None or not due(peek):
        return False  # the common case: no lock taken
    lock = " FOR UPDATE SKIP LOCKED" if kind == "postgresql" else ""
    row = tx.one(f"SELECT rev, built, refreshed_at FROM customer_cache WHERE id = 1{lock}")
    if row is None:
        return False  # another process is writing the caches right now
    if not int(row[1]):
        ensure_built(tx, now)
        return True
    last = str(row[2])
    if not due(row):
        return False
    since = utc_text(parse_utc_text(last) - MARGIN) if last else ""
    accounts = sorted({str(r[0]) for r in tx.all(
        "SELECT DISTINCT account FROM journal WHERE at > ?", (since,))}
                      | _lots.changed_since(tx, since, now))
    cards = [str(r[0]) for r in _select_in(tx, "SELECT card FROM cards WHERE account IN ({})",
                                           (), accounts)]
    cutoff = _cutoff(now)
    lapsed = tx.all("SELECT card FROM store_customers WHERE last_bought < ? AND home = 0 "
                    "AND store <> ? AND body IS NOT NULL", (cutoff, ALL))
    rev = _Rev(tx)
    _buyers(tx, since, now, rev)
    todo = sorted(set(cards) | {str(r[0]) for r in lapsed})
    for part in _chunks(todo):
        sync_cards(tx, part, now, rev)
    tx.execute("UPDATE customer_cache SET refreshed_at = ? WHERE id = 1", (now,))
    return True


# -- answers ------------------------------------------------------------------

_scopes: OrderedDict[str, str] = OrderedDict()


def scope_of(tx: Tx, version: int) -> str:
    """``all`` or ``store``: the newest bundle's ``program.customer_cache``."""
    digest = tx.one("SELECT digest FROM bundles WHERE version = ?", (version,))
    key = str(digest[0]) if digest else ""
    found = _scopes.get(key)
    if found is None:
        row = tx.one("SELECT body FROM bundles WHERE version = ?", (version,))
        prog = (json.loads(row[0]).get("program") or {}) if row else {}
        found = "all" if prog.get("customer_cache") == "all" else "store"
        _scopes[key] = found
        while len(_scopes) > 16:
            _scopes.popitem(last=False)
    return found


def parse_cursor(text: str | None) -> tuple[int, str, str] | None:
    """``rev:epoch:scope`` → (rev, epoch, scope); None when absent or not one."""
    if not text:
        return None
    rev, _, rest = text.partition(":")
    epoch, _, scope = rest.partition(":")
    if not rev.isascii() or not rev.isdigit() or not epoch or not scope:
        return None
    return int(rev), epoch, scope


def answer_text(tx: Tx, store: str, scope: str, epoch: str, cursor: str | None) -> str:
    """The ``customers`` member of a bundle answer, as JSON text."""
    key = ALL if scope == "all" else store
    row = tx.one("SELECT rev FROM customer_cache WHERE id = 1")
    top = int(row[0]) if row else 0
    held = parse_cursor(cursor)
    full = held is None or held[1] != epoch or held[2] != key or held[0] > top
    dump = json.dumps
    if full:
        bodies = [str(r[0]) for r in tx.all(
            "SELECT body FROM store_customers WHERE store = ? AND rev <= ? AND body IS NOT NULL",
            (key, top))]
        deletes: list[str] = []
    else:
        assert held is not None
        bodies, deletes = [], []
        if held[0] < top:
            for card, text in tx.all("SELECT card, body FROM store_customers WHERE store = ? "
                                     "AND rev > ? AND rev <= ?", (key, held[0], top)):
                if text is None:
                    deletes.append(str(card))
                else:
                    bodies.append(str(text))
    new_cursor = f"{top}:{epoch}:{key}"
    return (f'{{"cursor":{dump(new_cursor, ensure_ascii=False)},"full":{dump(full)},'
            f'"fields":{dump(list(FIELDS))},"upsert":[{",".join(bodies)}],'
            f'"delete":{dump(deletes)}}}')


def remove(tx: Tx, cards: Sequence[str], now: str) -> int:
    """Delete members' cards (accounts and journal stay); their cache rows become tombstones."""
    for part in _chunks(list(cards)):
        tx.execute(f"DELETE FROM cards WHERE card IN ({','.join('?' * len(part))})", part)
    return sync_cards(tx, list(cards), now)

