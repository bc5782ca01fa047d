"""The ledger's side of a return (spec/sync.md, spec/pricing.md §8).

The arithmetic lives in one place, ``fastcore.return_lines`` (the till uses
it too); here the ledger only supplies what it alone knows: the sale as it
was accepted, the unit of each of its lines in the bundle version the sale
was priced with, and what earlier returns of that sale already took back.
A return that does not fit (a line named twice, more than was sold, a
``pcs`` line returned in fractions, a sale whose lines cannot be read) is
refused with the reason ``invalid`` and nothing changes.

``Programs`` keeps, per bundle version, the program (its ceilings and caps)
and the catalog units, loaded once per process with ``fastcore.load_bundle``:
a version's content never changes once stored.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import fastcore
from fastcore import is_int

from ._errors import ReturnRefused
from ._storage import Tx


@dataclass(frozen=True)
class ProgramInfo:
    """What the ledger needs of one bundle version."""

    program: fastcore.Program
    units: Mapping[str, str]
    #: ``program.offline_token_cap`` (a ledger-side key, not read by the engine)
    token_cap: int | None


#: the ceilings used when a sale names a bundle version the ledger does not have
DEFAULT_PROGRAM = fastcore.Program(
    point_value=1, redeem_cap_bp=0, accrue_on_redeemed=False, welcome_points=0,
    birthday_points=0, favorite_multiplier_pct=100, timezone=None, offline_card_redeem_cap=0)


class Programs:
    """Per bundle version: program and units, loaded once (``None`` when unknown)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[int, ProgramInfo] = {}

    def get(self, version: int, body: Callable[[], str | None]) -> ProgramInfo | None:
        """The version's info; ``body()`` reads its stored text the first time."""
        with self._lock:
            info = self._known.get(version)
        if info is not None:
            return info
        text = body()
        if text is None:
            return None  # not cached: the version may be imported later
        bundle = fastcore.load_bundle(text)
        raw_cap = (bundle.raw.get("program") or {}).get("offline_token_cap")
        info = ProgramInfo(bundle.program, {sku: item.unit for sku, item in bundle.catalog.items()},
                           raw_cap if is_int(raw_cap) and raw_cap >= 0 else None)
        with self._lock:
            self._known[version] = info
        return info


def bundle_text(tx: Tx, version: int) -> str | None:
    """The stored body of one bundle version."""
    row = tx.one("SELECT body FROM bundles WHERE version = ?", (version,))
    return None if row is None else str(row[0])


def units_of(sale_result: Any, info: ProgramInfo | None, version: int) -> list[str]:
    """The unit of each line of a sale, from the catalog of the sale's bundle version."""
    if info is None:
        raise ReturnRefused("invalid", f"the sale's bundle version {version} is unknown to the ledger, "
                            "so its units are", "bundle_version")
    lines = sale_result.get("lines") if isinstance(sale_result, Mapping) else None
    if not isinstance(lines, list):
        raise ReturnRefused("invalid", "the sale's lines are not a list", "sale.lines")
    units = []
    for i, line in enumerate(lines):
        sku = line.get("sku") if isinstance(line, Mapping) else None
        unit = info.units.get(sku) if isinstance(sku, str) else None
        if unit is None:
            raise ReturnRefused("invalid", f"sku {sku!r} is not in bundle version {version}", f"sale.lines[{i}].sku")
        units.append(unit)
    return units


def compute(sale_result: Any, units: Sequence[str], items: Sequence[tuple[int, Any]],
            before: Mapping[int, int]) -> list[fastcore.LineReturn]:
    """``fastcore.return_lines``, its refusal turned into ``ReturnRefused``."""
    try:
        return fastcore.return_lines(sale_result, units, items, before)
    except fastcore.ReturnError as exc:
        field = exc.field.replace("items[", "returned[", 1) if exc.field else ""
        raise ReturnRefused("invalid", f"{exc.reason}: {exc.message}", field) from exc
