"""Audit: every uploaded sale is re-priced by the ledger.

The ledger runs the same engine (``fastcore``) on the sale's basket against
the bundle version the till used and compares the whole result of
spec/pricing.md §7. Any difference — a till on a tampered bundle, an engine
bug, a corrupted outbox row — is recorded in ``audits`` with outcome
``mismatch`` and the differing paths; the sale itself is still applied (the
customer was served at that price). Other outcomes: ``ok``, ``no_bundle``
(the ledger never had that version), ``error`` (the engine refused the
basket), ``unavailable`` (no engine in this process).
"""
from __future__ import annotations

import json
from typing import Any

from fastcore import is_int

from . import _engine

MAX_PATHS = 10


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def diff(expected: Any, got: Any, path: str = "") -> list[str]:
    """The paths where two JSON values differ (``totals.points: 12 != 13``)."""
    if isinstance(expected, dict) and isinstance(got, dict):
        out: list[str] = []
        for key in sorted(set(expected) | set(got)):
            out += diff(expected.get(key), got.get(key), f"{path}.{key}" if path else key)
        return out
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        out = []
        for i, (a, b) in enumerate(zip(expected, got, strict=False)):
            out += diff(a, b, f"{path}[{i}]")
        return out
    return [] if expected == got else [f"{path or 'result'}: {expected!r} != {got!r}"]


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def for_engine(basket: dict[str, Any]) -> Any:
    """The basket as the engine takes it (a float quantity re-read as an exact decimal)."""
    lines = basket.get("lines")
    floats = isinstance(lines, list) and any(
        isinstance(line, dict) and isinstance(line.get("qty"), float) for line in lines)
    return _engine.exact(basket) if floats else basket


def compare(expected: dict[str, Any], result: dict[str, Any]) -> tuple[str, str | None]:
    """``("ok", None)`` or ``("mismatch", "<differing paths>")``."""
    if expected == result or _canon(expected) == _canon(result):  # the usual case
        return "ok", None
    paths = diff(_plain(expected), _plain(result))
    if not paths:
        return "ok", None
    return "mismatch", "; ".join(paths[:MAX_PATHS])


def _int(obj: Any, *keys: str) -> int:
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj if is_int(obj) else 0


def correction(expected: dict[str, Any], claimed: dict[str, Any],
               corrected: dict[str, Any] | None = None) -> tuple[int, str]:
    """The ``audit_correction`` a re-priced sale calls for (≤ 0) and its note.

    spec/sync.md: where re-pricing gives fewer points than the till claimed
    (or redeems more), the difference is taken back, so balances follow the
    ledger's arithmetic. Nothing is ever added: a till that gave too few
    points is a mismatch to look at, not a reason to mint. Bonuses already
    corrected when the sale was applied (``corrected``: a welcome or
    birthday bonus the account had already had) are left out of both
    figures so they are not taken back twice.
    """
    skip = [k for k in ("welcome", "birthday") if corrected and corrected.get(k)]
    exp_points = _int(expected, "totals", "points") - sum(_int(expected, "bonus", k) for k in skip)
    got_points = _int(claimed, "totals", "points") - sum(_int(claimed, "bonus", k) for k in skip)
    exp_red = _int(expected, "totals", "redeemed_points")
    got_red = _int(claimed, "totals", "redeemed_points")
    points = min(0, exp_points - got_points) + min(0, got_red - exp_red)
    note = (f"re-priced: {exp_points} points accrued, {exp_red} redeemed; the till claimed "
            f"{got_points} accrued, {got_red} redeemed")
    return points, note


def reprice_many(engine: Any, items: list[tuple[dict[str, Any], dict[str, Any]]]
                 ) -> list[tuple[str, str | None]]:
    """Audit outcomes of ``(basket, result)`` pairs priced by one engine."""
    return [(o, d) for o, d, _ in reprice_many_full(engine, items)]


def reprice_many_full(engine: Any, items: list[tuple[dict[str, Any], dict[str, Any]]]
                      ) -> list[tuple[str, str | None, dict[str, Any] | None]]:
    """Audit outcomes of ``(basket, result)`` pairs priced by one engine, with the re-priced result.

    ``Engine.price_many`` prices the lot in one call; when it refuses one
    basket, each is priced alone so that only that one is an ``error``.
    """
    if engine is None:
        return [("unavailable", "no pricing engine in this process", None)] * len(items)
    baskets = []
    for basket, _ in items:
        try:
            baskets.append(for_engine(basket))
        except Exception:  # noqa: BLE001 - an unreadable basket is priced alone below
            baskets = []
            break
    priced: list[Any] | None = None
    if len(baskets) == len(items):
        try:
            priced = [r.to_json() for r in engine.price_many(baskets)]
        except Exception:  # noqa: BLE001 - find the refused basket one by one
            priced = None
    out: list[tuple[str, str | None, dict[str, Any] | None]] = []
    for i, (basket, result) in enumerate(items):
        if priced is not None:
            out.append((*compare(priced[i], result), priced[i]))
            continue
        try:
            expected = engine.price(for_engine(basket)).to_json()
        except Exception as exc:  # noqa: BLE001 - any engine refusal is an audit finding
            out.append(("error", f"{type(exc).__name__}: {str(exc)[:300]}", None))
            continue
        out.append((*compare(expected, result), expected))
    return out
