"""The points lifecycle and tier settings of the programme (docs/programme-life.md).

They live in the newest bundle's ``program`` (validated by
``fastcore.load_bundle``: docs/pricing-notes.md) and are read here once per
bundle version. The ledger applies the newest settings to every lot and
account, so a change of ``hold_days`` or ``expiry_days`` also applies to
points already earned (head office changes them with that in mind).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from . import _bundles
from ._storage import Tx


@dataclass(frozen=True)
class Threshold:
    """A tier and the rolling net spend (kopecks) that reaches it."""

    tier: str
    spend: int


@dataclass(frozen=True)
class Settings:
    """What the ledger reads of one bundle version's ``program`` and ``tiers``."""

    #: days an accrual stays pending (the return window); 0 = spendable at once
    hold_days: int = 0
    #: days after which unspent points expire; None = never
    expiry_days: int | None = None
    #: the tier ids in bundle order (the first is the default)
    tiers: tuple[str, ...] = ()
    #: rolling spend window and review period (days); None without ``tier_rules``
    window_days: int | None = None
    review_days: int | None = None
    #: ascending by spend
    thresholds: tuple[Threshold, ...] = ()

    @property
    def tiered(self) -> bool:
        """True when the ledger computes tiers (the bundle has ``program.tier_rules``)."""
        return self.window_days is not None and bool(self.thresholds)

    @property
    def default_tier(self) -> str:
        return self.tiers[0] if self.tiers else ""

    def tier_for(self, spend: int) -> str:
        """The highest tier whose threshold ``spend`` reaches (the default below all)."""
        found = self.default_tier
        for t in self.thresholds:
            if spend >= t.spend:
                found = t.tier
        return found

    def rank(self, tier: str | None) -> int:
        """A tier's place: 0 for the default (or an unknown/absent tier), then by threshold."""
        for i, t in enumerate(self.thresholds):
            if t.tier == tier:
                return i + 1
        return 0

    def threshold_of(self, tier: str | None) -> int:
        """The spend a tier needs (0 for the default tier)."""
        for t in self.thresholds:
            if t.tier == tier:
                return t.spend
        return 0


NONE = Settings()


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse(bundle: dict[str, Any]) -> Settings:
    """The settings of a stored (already validated) bundle body."""
    prog = bundle.get("program") if isinstance(bundle.get("program"), dict) else {}
    assert isinstance(prog, dict)
    tiers = tuple(str(t.get("id")) for t in bundle.get("tiers") or [] if isinstance(t, dict))
    rules = prog.get("tier_rules") if isinstance(prog.get("tier_rules"), dict) else None
    thresholds: tuple[Threshold, ...] = ()
    window = review = None
    if rules is not None:
        window, review = _int(rules.get("window_days")), _int(rules.get("review_days"))
        thresholds = tuple(sorted((Threshold(str(t["tier"]), int(t["spend"]))
                                   for t in rules.get("thresholds") or []
                                   if isinstance(t, dict) and _int(t.get("spend"))),
                                  key=lambda t: t.spend))
    return Settings(hold_days=_int(prog.get("hold_days")) or 0,
                    expiry_days=_int(prog.get("expiry_days")), tiers=tiers,
                    window_days=window, review_days=review, thresholds=thresholds)


_lock = threading.Lock()
_known: dict[tuple[int, str], Settings] = {}


def current(tx: Tx) -> Settings:
    """The settings of the newest bundle (``NONE`` before the first import)."""
    newest = _bundles.latest_version(tx)
    if not newest:
        return NONE
    row = tx.one("SELECT digest FROM bundles WHERE version = ?", (newest,))
    key = (newest, str(row[0]) if row else "")
    with _lock:
        found = _known.get(key)
    if found is not None:
        return found
    found = parse(_bundles.load(tx, newest) or {})
    with _lock:
        _known[key] = found
    return found
