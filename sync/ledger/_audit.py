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

from . import _engine
from ._storage import Tx

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
        for i, (a, b) in enumerate(zip(expected, got)):
            out += diff(a, b, f"{path}[{i}]")
        return out
    return [] if expected == got else [f"{path or 'result'}: {expected!r} != {got!r}"]


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def reprice(tx: Tx, version: int, basket: dict[str, Any], result: dict[str, Any],
            digests: dict[int, Any] | None = None) -> tuple[str, str | None]:
    """Re-price ``basket`` against bundle ``version``; return (outcome, detail).

    ``digests`` caches the version → digest look-up across one batch.
    """
    if digests is not None and version in digests:
        row = digests[version]
    else:
        row = tx.one("SELECT digest FROM bundles WHERE version = ?", (version,))
        if digests is not None:
            digests[version] = row
    if row is None:
        return "no_bundle", f"bundle version {version} is unknown to the ledger"

    def body() -> str:
        text = tx.one("SELECT body FROM bundles WHERE version = ?", (version,))
        assert text is not None
        return str(text[0])

    try:
        engine = _engine.engine_for(f"{row[0]}:{version}", body)
    except ImportError:
        engine = None
    if engine is None:
        return "unavailable", "no pricing engine in this process"
    try:
        lines = basket.get("lines")
        floats = isinstance(lines, list) and any(
            isinstance(line, dict) and isinstance(line.get("qty"), float) for line in lines)
        expected = engine.price(_engine.exact(basket) if floats else basket).to_json()
    except Exception as exc:  # noqa: BLE001 - any engine refusal is an audit finding
        return "error", f"{type(exc).__name__}: {exc}"
    if expected == result or _canon(expected) == _canon(result):  # the usual case
        return "ok", None
    paths = diff(_plain(expected), _plain(result))
    if not paths:
        return "ok", None
    return "mismatch", "; ".join(paths[:MAX_PATHS])
