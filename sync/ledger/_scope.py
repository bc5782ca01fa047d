"""What a head-office report covers: a period of days and a set of stores.

A store belongs to the chain its programme says (the bundle's
``stores[].chain``, spec/pricing.md): the newest bundle version that lists
the store decides, so a store that left the programme keeps the chain it
had (looked up ``LOOK_BACK`` versions back at most: every version is a
whole catalog to read). A store no bundle lists (a till registered before its store was
published) belongs to no chain (``""``). The ledger needs no chain column
of its own: the programme is where a coalition says which stores are whose.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from . import _bundles
from ._errors import ScopeError
from ._storage import Tx

#: the period a report covers when none is given: the last 7 days
DEFAULT_DAYS = 7
#: the earliest offset of a civil time zone (UTC+14, Kiritimati): "today" in every store
#: is at most this far ahead of UTC
_EASTMOST = timedelta(hours=14)
#: bundle versions read back to find the chain of a store the newest does not list
LOOK_BACK = 30


@dataclass(frozen=True)
class Scope:
    """Days ``first``…``last`` (inclusive, ``YYYY-MM-DD``) and the stores asked for."""

    first: str
    last: str
    stores: frozenset[str] | None  # None: every store
    chains: dict[str, str]  # store -> chain, every store the ledger knows
    dated: bool = True  # the period was asked for (flags of any day count otherwise)

    def has(self, store: str) -> bool:
        return self.stores is None or store in self.stores

    def covers(self, store: str, at: str) -> bool:
        """``store`` is in scope, and so is the day of ``at`` if a period was asked for."""
        return self.has(store) and (not self.dated or self.first <= at[:10] <= self.last)

    def days(self) -> list[str]:
        start, end = date.fromisoformat(self.first), date.fromisoformat(self.last)
        return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]

    def to_json(self) -> dict[str, object]:
        return {"from": self.first, "to": self.last,
                "stores": None if self.stores is None else sorted(self.stores)}


def chains(tx: Tx) -> dict[str, str]:
    """Every known store (bundles, tills) and its chain (``""``: none)."""
    out: dict[str, str] = {}
    newest = _bundles.latest_version(tx)
    for version in range(newest, max(0, newest - LOOK_BACK), -1):
        for store in (_bundles.load(tx, version) or {}).get("stores") or []:
            if isinstance(store, dict) and isinstance(store.get("id"), str):
                chain = store.get("chain")
                out.setdefault(store["id"], chain if isinstance(chain, str) else "")
        if not _missing(tx, out):
            break
    for (store,) in tx.all("SELECT DISTINCT store FROM tills"):
        out.setdefault(str(store), "")
    return out


def _missing(tx: Tx, known: dict[str, str]) -> bool:
    return any(str(s) not in known for (s,) in tx.all("SELECT DISTINCT store FROM tills"))


def _day(text: str | None, field: str) -> date | None:
    if text is None or text == "":
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ScopeError("invalid", f"{field} is a day, YYYY-MM-DD (got {text!r})", field) from None


def latest_day(now: datetime) -> date:
    """The newest calendar day any store can be in at ``now``.

    A day in the rollups is the store's local day as its till stamped it, so
    at 18:00 UTC a store in Krasnoyarsk (UTC+7) is already selling on the next
    day; a default period ending on the UTC date would leave its evening out.
    Ending on the day of the easternmost zone includes every store's today
    (days not yet begun elsewhere are simply empty).
    """
    if now.tzinfo is not None:
        now = now.astimezone(timezone.utc).replace(tzinfo=None)
    return (now + _EASTMOST).date()


def scope(tx: Tx, today: datetime, first: str | None = None, last: str | None = None,
          stores: list[str] | None = None, chain_names: list[str] | None = None) -> Scope:
    """The scope asked for; the last ``DEFAULT_DAYS`` days up to today by default.

    Without a period the figures cover the default days but the flags are
    every flag still standing, whatever day it concerns: an overdraft of a
    month ago is not solved by a week passing.

    Stores and chains add up (a store named, plus every store of a chain
    named); an unknown store or chain is refused rather than reported as
    empty, so a typo never reads as "nothing happened".
    """
    end = _day(last, "to") or latest_day(today)
    start = _day(first, "from") or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ScopeError("invalid", f"from ({start}) is after to ({end})", "from")
    if (end - start).days > 366:
        raise ScopeError("invalid", "a report covers at most 367 days", "to")
    known = chains(tx)
    picked: set[str] | None = None
    if stores or chain_names:
        picked = set()
        for s in stores or []:
            if s not in known:
                raise ScopeError("invalid", f"no store {s!r} (neither in a bundle nor a till's)", "store")
            picked.add(s)
        for c in chain_names or []:
            members = {s for s, ch in known.items() if ch == c}
            if not members:
                raise ScopeError("invalid", f"no store of chain {c!r} in any bundle", "chain")
            picked |= members
    return Scope(start.isoformat(), end.isoformat(),
                 None if picked is None else frozenset(picked), known,
                 bool(first or last))
