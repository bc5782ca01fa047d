"""The favourite category a customer chooses in the app (issue 12, item 5).

``PUT /v1/accounts/{account}/favourite`` (an app key) sets the account's
favourite category, one of the programme's ``program.favorite_categories``
in the newest bundle, at most once per ``program.favorite_change_days``
(30 when the bundle does not say); ``GET`` the same path tells the choice and
when it may next change. The choice is written on every card of the account
(``cards.favorite_category``, no end date), where tokens (``fav``) and the
store customer caches (their next delta) already read it, so a till prices
the next sale with it.

Every change is a row of ``favourite_changes`` (who, when, from what), not a
journal entry: it moves no points, and a balance always equals its journal.
The statement shows that history as its own ``favourite`` section. The
account row is locked first (``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE``
serialises writers anyway), so two simultaneous changes of one account, even
through two server processes, record exactly one.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from . import _bundles, _customers
from ._clock import parse_utc_text, utc_text
from ._errors import RequestError
from ._storage import Tx

#: days between two changes when the programme does not say
DEFAULT_CHANGE_DAYS = 30


def _program(tx: Tx) -> dict[str, Any]:
    newest = _bundles.latest_version(tx)
    bundle = (_bundles.load(tx, newest) or {}) if newest else {}
    prog = bundle.get("program")
    return prog if isinstance(prog, dict) else {}


def choices(tx: Tx) -> list[str]:
    """The programme's favourite categories in the newest bundle (empty: none offered)."""
    found = _program(tx).get("favorite_categories")
    if not isinstance(found, list):
        return []
    return [c for c in found if isinstance(c, str) and c]


def change_days(tx: Tx) -> int:
    """Days between two changes: ``program.favorite_change_days``, else 30."""
    days = _program(tx).get("favorite_change_days")
    if isinstance(days, int) and not isinstance(days, bool) and days >= 0:
        return days
    return DEFAULT_CHANGE_DAYS


def _known(tx: Tx, account: str, lock: str = "") -> None:
    if tx.one(f"SELECT account FROM accounts WHERE account = ?{lock}", (account,)) is None:
        raise RequestError("unknown_account", "no such account", "account")


def history(tx: Tx, account: str) -> list[dict[str, Any]]:
    """Every favourite change of ``account``, oldest first (the statement's section)."""
    rows = tx.all("SELECT changed_at, category, previous, by_kind, by_name FROM "
                  "favourite_changes WHERE account = ? ORDER BY changed_at", (account,))
    return [{"at": r[0], "category": r[1], "previous": r[2], "by": f"{r[3]}:{r[4]}"}
            for r in rows]


def _current(tx: Tx, account: str) -> str | None:
    row = tx.one("SELECT favorite_category FROM cards WHERE account = ? "
                 "ORDER BY card LIMIT 1", (account,))
    return None if row is None else row[0]


def _next_change(tx: Tx, past: list[dict[str, Any]], now: str) -> str:
    if not past:
        return now
    after = parse_utc_text(past[-1]["at"]) + timedelta(days=change_days(tx))
    return max(now, utc_text(after))


def show(tx: Tx, account: str, now: str) -> dict[str, Any]:
    """The account's favourite, when it may next change, the choices and the history."""
    _known(tx, account)
    past = history(tx, account)
    return {"account": account, "category": _current(tx, account),
            "changed_at": past[-1]["at"] if past else None,
            "next_change_at": _next_change(tx, past, now),
            "choices": choices(tx), "history": past}


def choose(tx: Tx, account: str, category: str, now: str, by_kind: str, by_name: str,
           lock: str, *, anytime: bool = False) -> dict[str, Any]:
    """Set the favourite of every card of ``account``; refused (nothing written) when
    unknown, not offered, or too soon after the last change (unless ``anytime``)."""
    _known(tx, account, lock)  # the row lock serialises two changes of one account
    offered = choices(tx)
    if category not in offered:
        raise RequestError("invalid", "category: not one of the programme's favourite "
                           f"categories ({', '.join(offered) or 'none offered'})",
                           "category")
    past = history(tx, account)
    ready = _next_change(tx, past, now)
    if not anytime and ready > now:
        raise RequestError("favourite_too_soon", "the favourite category was changed on "
                           f"{past[-1]['at'][:10]}; it may change again from "
                           f"{ready[:10]}", "category", next_change_at=ready)
    previous = _current(tx, account)
    tx.execute("INSERT INTO favourite_changes (account, changed_at, category, previous, "
               "by_kind, by_name) VALUES (?, ?, ?, ?, ?, ?)",
               (account, now, category, previous, by_kind, by_name))
    tx.execute("UPDATE cards SET favorite_category = ?, favorite_until = NULL, updated_at = ? "
               "WHERE account = ?", (category, now, account))
    cards = [str(r[0]) for r in tx.all("SELECT card FROM cards WHERE account = ? "
                                       "ORDER BY card", (account,))]
    _customers.ensure_built(tx, now)
    _customers.sync_cards(tx, cards, now)  # the stores' next delta carries it
    return show(tx, account, now)
