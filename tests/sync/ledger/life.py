"""Shared set-up of the points lifecycle and tier tests (docs/programme-life.md)."""
from __future__ import annotations

import base64
import json
from typing import Any

from sync.ledger import Ledger

from .helpers import BUNDLE, ASGIClient, TillSim

#: ``totals.paid`` and ``totals.points`` of ``TillSim.sale`` (the example basket, silver)
PAID, POINTS = 52253, 65
TIER_RULES = {"window_days": 365, "review_days": 90,
              "thresholds": [{"tier": "silver", "spend": 100000},
                             {"tier": "gold", "spend": 200000}]}


def bundle_text(**program: Any) -> str:
    """The example bundle with ``program`` settings added (e.g. ``hold_days=14``)."""
    body = json.loads(json.dumps(BUNDLE))
    body["program"].update(program)
    return json.dumps(body)


def claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    out: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return out


def upload(client: ASGIClient, till: TillSim, *txns: dict[str, Any]) -> list[dict[str, Any]]:
    resp = client.post("/v1/transactions", json=till.body(list(txns)), headers=till.headers)
    assert resp.status_code == 200, resp.text
    results: list[dict[str, Any]] = resp.json()["results"]
    assert all(r["status"] == "accepted" for r in results), results
    return results


def journal(led: Ledger, account: str, kind: str | None = None) -> list[tuple[str, int]]:
    """``(kind, points)`` of the account's journal, in entry order."""
    with led.storage.transaction() as tx:
        rows = tx.all("SELECT kind, points FROM journal WHERE account = ? "
                      + ("AND kind = ? " if kind else "") + "ORDER BY at, entry_id",
                      (account, kind) if kind else (account,))
    return [(str(r[0]), int(r[1])) for r in rows]


def lots(led: Ledger, account: str) -> list[tuple[str, int, int]]:
    """``(lot_id, points, remaining)`` of the account's lots, oldest first."""
    with led.storage.transaction() as tx:
        rows = tx.all("SELECT lot_id, points, remaining FROM point_lots WHERE account = ? "
                      "ORDER BY earned_at, lot_id", (account,))
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]


def counts(led: Ledger) -> tuple[int, ...]:
    """Rows of every table the jobs write (to show that a refused run changed nothing)."""
    with led.storage.transaction() as tx:
        return tuple(int(tx.one(f"SELECT COUNT(*) FROM {t}")[0]) for t in (  # type: ignore[index]
            "journal", "point_lots", "tier_changes")) + tuple(
            int(r[0]) for r in tx.all("SELECT SUM(remaining) FROM point_lots"))
