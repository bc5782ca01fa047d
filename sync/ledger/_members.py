"""Loading members (cards, accounts, profiles, opening balances).

A members file is CSV with a header, or JSON lines (one object a line; the
format is chosen by the first non-blank character: ``{`` means JSON lines).
Columns/keys: ``card`` and ``account`` (required), ``tier``, ``segments``
and ``offers`` (lists; ``;``-separated in CSV), ``birthday``
(YYYY-MM-DD), ``favorite_category`` and ``favorite_until`` (the British
spellings are accepted too), ``opening_balance`` (points, default 0),
``offline_cap`` (points a token may redeem offline; empty = no per-account
cap), ``home_store`` (the store whose tills hold the card in their offline
customer cache, spec/till.md §2a; empty = none; a file without the column
leaves the stored one unchanged).

Several cards may name one account: a family shares one balance. The whole
file is validated before anything is written, then written in one
transaction. Re-importing is idempotent: profiles are upserted, and an
account's opening balance is journaled exactly once (entry ``opening``);
a later file with a different opening balance for an existing account is
reported, not applied (use ``kopilka ledger adjust``).
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from fastcore import MAX_INT, ean13_valid

from sync import is_provisional

from . import _customers, _enrol, _journal
from ._errors import BalanceOutOfBounds, MemberImportError
from ._storage import Tx

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_ALIASES = {"favourite_category": "favorite_category", "favourite_until": "favorite_until"}
#: a store id as tills are registered with it: printable, no surrounding blanks
_STORE = re.compile(r"[^\x00-\x20\x7f](?:[^\x00-\x1f\x7f]{0,62}[^\x00-\x20\x7f])?\Z")


@dataclass(frozen=True)
class Member:
    """One validated line of a members file."""

    card: str
    account: str
    tier: str | None
    segments: tuple[str, ...]
    offers: tuple[str, ...]
    birthday: str | None
    favorite_category: str | None
    favorite_until: str | None
    opening_balance: int
    offline_cap: int | None
    home_store: str | None = None
    #: False when the file has no home_store column/key: the stored one stays
    home_given: bool = False


@dataclass
class ImportStats:
    """What an import changed (printed by the CLI)."""

    cards_added: int = 0
    cards_updated: int = 0
    cards_unchanged: int = 0
    accounts_added: int = 0
    opening_applied: int = 0
    opening_differs: list[str] = field(default_factory=list)


def _list(value: Any, where: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(s.strip() for s in value.split(";") if s.strip())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise MemberImportError("invalid", "expected a list of strings", where)


def _opt_text(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MemberImportError("invalid", "expected a string", where)
    return value


def _date(value: Any, where: str) -> str | None:
    text = _opt_text(value, where)
    if text is not None and not _DATE.match(text):
        raise MemberImportError("invalid", f"expected YYYY-MM-DD, got {text!r}", where)
    return text


def _store(value: Any, where: str) -> str | None:
    text = _opt_text(value, where)
    if text is not None and not _STORE.match(text):
        raise MemberImportError("invalid", f"expected a store id (1-64 printable characters, "
                                f"no surrounding blanks), got {text!r}", where)
    return text


def _int(value: Any, where: str, default: int | None) -> int | None:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise MemberImportError("invalid", "expected an integer", where)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,20}", value.strip()):
        number = int(value)
    else:
        raise MemberImportError("invalid", f"expected an integer, got {str(value)[:40]!r}", where)
    if not -MAX_INT <= number <= MAX_INT:
        raise MemberImportError("out_of_bounds", "points must lie within ±(2^53 − 1)", where)
    return number


def _member(raw: dict[str, Any], line: int) -> Member:
    row = {_ALIASES.get(k, k): v for k, v in raw.items()}
    at = f"line {line}"
    card = row.get("card")
    if not isinstance(card, str) or not ean13_valid(card.strip()):
        raise MemberImportError("bad_card", f"card {card!r} is not a valid EAN-13", f"{at}.card")
    account = row.get("account")
    if not isinstance(account, str) or not account.strip():
        raise MemberImportError("invalid", "account is required", f"{at}.account")
    opening = _int(row.get("opening_balance"), f"{at}.opening_balance", 0)
    cap = _int(row.get("offline_cap"), f"{at}.offline_cap", None)
    if cap is not None and cap < 0:
        raise MemberImportError("invalid", "offline_cap must be >= 0", f"{at}.offline_cap")
    return Member(
        card=card.strip(), account=account.strip(),
        tier=_opt_text(row.get("tier"), f"{at}.tier"),
        segments=_list(row.get("segments"), f"{at}.segments"),
        offers=_list(row.get("offers"), f"{at}.offers"),
        birthday=_date(row.get("birthday"), f"{at}.birthday"),
        favorite_category=_opt_text(row.get("favorite_category"), f"{at}.favorite_category"),
        favorite_until=_date(row.get("favorite_until"), f"{at}.favorite_until"),
        opening_balance=opening or 0, offline_cap=cap,
        home_store=_store(row.get("home_store"), f"{at}.home_store"),
        home_given="home_store" in row,
    )


def parse_members(text: str) -> list[Member]:
    """Validate a whole members file; raise ``MemberImportError`` at the first bad line."""
    stripped = text.lstrip("\ufeff")
    members: list[Member] = []
    if stripped.lstrip().startswith("{"):
        for n, line in enumerate(stripped.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except ValueError as exc:
                raise MemberImportError("invalid", f"not JSON: {exc}", f"line {n}") from exc
            if not isinstance(raw, dict):
                raise MemberImportError("invalid", "expected a JSON object", f"line {n}")
            members.append(_member(raw, n))
    else:
        reader = csv.DictReader(io.StringIO(stripped))
        if not reader.fieldnames or "card" not in reader.fieldnames:
            raise MemberImportError("invalid", "CSV needs a header with card and account", "line 1")
        for n, raw in enumerate(reader, start=2):
            members.append(_member(dict(raw), n))
    seen_cards: set[str] = set()
    opening: dict[str, int] = {}
    for m in members:
        if m.card in seen_cards:
            raise MemberImportError("duplicate_card", f"card {m.card[-4:]} appears twice", "card")
        seen_cards.add(m.card)
        if m.opening_balance:
            if opening.setdefault(m.account, m.opening_balance) != m.opening_balance:
                raise MemberImportError(
                    "invalid", f"account {m.account} has two different opening balances",
                    "opening_balance")
    return members


def import_members(tx: Tx, members: list[Member], at: str) -> ImportStats:
    """Upsert cards and accounts and journal opening balances once."""
    stats = ImportStats()
    opening: dict[str, int] = {}
    caps: dict[str, int] = {}
    for m in members:
        if m.opening_balance:
            opening[m.account] = m.opening_balance
        if m.offline_cap is not None:
            caps[m.account] = m.offline_cap
        if _journal.ensure_account(tx, m.account, at):
            stats.accounts_added += 1
        # a tier the ledger computed (program.tier_rules) outranks the file's
        computed = tx.one("SELECT tier FROM accounts WHERE account = ?", (m.account,))
        tier = computed[0] if computed is not None and computed[0] is not None else m.tier
        values = (m.account, tier, json.dumps(list(m.segments)), json.dumps(list(m.offers)),
                  m.birthday, m.favorite_category, m.favorite_until, m.home_store)
        old = tx.one("SELECT account, tier, segments, offers, birthday, favorite_category, "
                     "favorite_until, home_store FROM cards WHERE card = ?", (m.card,))
        if old is not None and not m.home_given:
            values = (*values[:-1], old[-1])
        if old is None:
            tx.execute("INSERT INTO cards (card, account, tier, segments, offers, birthday, "
                       "favorite_category, favorite_until, home_store, updated_at) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?)", (m.card, *values, at))
            stats.cards_added += 1
        elif tuple(old) != values:
            tx.execute("UPDATE cards SET account=?, tier=?, segments=?, offers=?, birthday=?, "
                       "favorite_category=?, favorite_until=?, home_store=?, updated_at=? "
                       "WHERE card=?", (*values, at, m.card))
            stats.cards_updated += 1
            if is_provisional(old[0]) and old[0] != m.account:
                # a card enrolled at a till, now given its account by head office:
                # what the till's account held follows the card (docs/enrolment.md)
                _enrol.merge(tx, m.card, str(old[0]), m.account, "members import",
                             f"import:{at}", at, "")
        else:
            stats.cards_unchanged += 1
    for account, cap in caps.items():
        tx.execute("UPDATE accounts SET offline_cap = ? WHERE account = ?", (cap, account))
    for account, points in opening.items():
        row = tx.one("SELECT points FROM journal WHERE account = ? AND entry_id = 'opening'",
                     (account,))
        if row is None:
            try:
                _journal.post(tx, account, "opening", "adjustment", points, at,
                              note="opening balance")
            except BalanceOutOfBounds as exc:
                raise MemberImportError("out_of_bounds", exc.message,
                                        f"account {account}.opening_balance") from exc
            stats.opening_applied += 1
        elif int(row[0]) != points:
            stats.opening_differs.append(account)
    # The stores' offline caches follow in the same transaction (the next
    # delta of each store's tills carries what changed).
    _customers.ensure_built(tx, at)
    _customers.sync_cards(tx, [m.card for m in members], at)
    return stats


@dataclass(frozen=True)
class Profile:
    """A card's profile joined with its account (what tills and tokens see)."""

    card: str
    account: str
    tier: str | None
    segments: list[str]
    offers: list[str]
    birthday: str | None
    favorite_category: str | None
    favorite_until: str | None
    points: int
    offline_cap: int | None
    sales: int
    birthday_bonus_year: int | None


def profile(tx: Tx, card: str) -> Profile | None:
    """The card's profile and its account's balance, or None."""
    # Two single-shard look-ups (cards are distributed by card, accounts by
    # account), never a join across distribution keys.
    row = tx.one(
        "SELECT card, account, tier, segments, offers, birthday, favorite_category, "
        "favorite_until FROM cards WHERE card = ?", (card,))
    if row is None:
        return None
    acc = tx.one("SELECT points, offline_cap, sales, birthday_bonus_year FROM accounts "
                 "WHERE account = ?", (row[1],))
    if acc is None:
        return None
    return Profile(str(row[0]), str(row[1]), row[2], json.loads(row[3]), json.loads(row[4]),
                   row[5], row[6], row[7], int(acc[0]),
                   None if acc[1] is None else int(acc[1]), int(acc[2]),
                   None if acc[3] is None else int(acc[3]))
