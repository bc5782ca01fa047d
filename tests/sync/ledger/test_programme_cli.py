"""``kopilka ledger expire`` and ``kopilka ledger tiers review``, both backends.

Hostile ``--at`` values are refused naming the option, nothing changed; two
processes running the same job at once give the result of one run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sync.ledger import Ledger
from sync.ledger.cli import ledger as ledger_group

from .conftest import FakeClock
from .life import TIER_RULES, bundle_text, counts

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.timeout(240)


def card(i: int) -> str:
    """A valid EAN-13 member card number ``29…``."""
    body = f"29{i:010d}"
    total = sum(int(d) * (3 if k % 2 else 1) for k, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def seeded(db_url: str, accounts: int) -> None:
    """``accounts`` silver members with 100 points each, in January 2025 (so, by now, their
    points are past 30 days and their tiers, adopted then, past one review period)."""
    clock = FakeClock()
    clock.now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    rows = "".join(f"{card(i)},ACC-{i:04d},silver,,,,,,100\n" for i in range(accounts))
    with Ledger(db_url, clock=clock) as led:
        led.import_bundle(bundle_text(expiry_days=30, tier_rules=TIER_RULES))
        led.import_members("card,account,tier,segments,offers,birthday,favorite_category,"
                           "favorite_until,opening_balance\n" + rows)
        assert led.review_tiers()["adopted"] == accounts


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(ledger_group, list(args))
    return result.exit_code, result.output


HOSTILE = ["2026-13-01", "2026-02-30", "2026-00-10", str(2**63), "-1", "0", "1e308",
           "2026-01-01\x00", "2026-01-0\x1b", "\uff12\uff10\uff12\uff16-01-01", "", "x" * 10000,
           "2026-01-01T00:00:00Z", "2099-01-01", "9999-12-31"]


@pytest.mark.parametrize("command", [("expire",), ("tiers", "review")])
def test_hostile_dates_are_refused_naming_at_and_change_nothing(
        db_url: str, command: tuple[str, ...]) -> None:
    seeded(db_url, 3)
    with Ledger(db_url) as led:
        before = counts(led)
    for value in HOSTILE:
        code, out = run(*command, "--db", db_url, "--at", value)
        assert code == 1, (value, out)
        assert "Error: at: invalid: --at" in out, (value, out)
        assert "\x00" not in out and "\x1b" not in out and len(out) < 400
    with Ledger(db_url) as led:
        assert counts(led) == before
        assert led.check() == []


def test_the_jobs_print_what_they_did_and_a_second_run_does_nothing(db_url: str) -> None:
    seeded(db_url, 3)
    code, out = run("expire", "--db", db_url, "--at", "2025-03-01")
    assert code == 0, out
    assert json.loads(out)["points"] == 300
    assert json.loads(run("expire", "--db", db_url)[1])["points"] == 0
    code, out = run("tiers", "review", "--db", db_url, "--at", "2025-06-01")
    assert code == 0, out
    assert [x["to"] for x in json.loads(out)["lowered"]] == ["base"] * 3
    assert json.loads(run("tiers", "review", "--db", db_url)[1])["lowered"] == []


def _twice_at_once(db_url: str, *command: str) -> list[dict[str, Any]]:
    procs = [subprocess.Popen(
        [sys.executable, "-c", "from sync.ledger.cli import ledger; ledger()", *command,
         "--db", db_url], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}) for _ in range(2)]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=200)
        assert proc.returncode == 0, err
        outs.append(json.loads(out))
    return outs


def test_two_expiry_runs_at_once_expire_each_lot_once(db_url: str) -> None:
    seeded(db_url, 60)
    first, second = _twice_at_once(db_url, "expire")
    assert first["points"] + second["points"] == 60 * 100
    assert not ({x["account"] for x in first["expired"]}
                & {x["account"] for x in second["expired"]})
    with Ledger(db_url) as led, led.storage.transaction() as tx:
        rows = tx.all("SELECT COUNT(*), SUM(points) FROM journal WHERE kind = 'expiry'")
        assert (int(rows[0][0]), int(rows[0][1])) == (60, -6000)
    with Ledger(db_url) as led:
        assert led.check() == []


def test_two_reviews_at_once_lower_each_tier_once(db_url: str) -> None:
    seeded(db_url, 60)
    first, second = _twice_at_once(db_url, "tiers", "review")
    assert len(first["lowered"]) + len(second["lowered"]) == 60
    with Ledger(db_url) as led, led.storage.transaction() as tx:
        rows = tx.all("SELECT tier, COUNT(*) FROM tier_changes GROUP BY tier")
        assert [(str(r[0]), int(r[1])) for r in rows] == [("base", 60)]
        cards = tx.all("SELECT DISTINCT tier FROM cards")
        assert [r[0] for r in cards] == ["base"]


def test_the_statement_command_shows_pending_tier_changes_lots_and_expiries(
        db_url: str) -> None:
    seeded(db_url, 1)
    code, out = run("statement", "--db", db_url, "ACC-0000")
    assert code == 0, out
    assert "balance 100, pending 0, held 0, available 100" in out
    assert "lot 2025-01-01: 100 of 100, expires 2025-01-31" in out
    assert "100 points expire by" in out
    run("expire", "--db", db_url)
    run("tiers", "review", "--db", db_url)
    code, out = run("statement", "--db", db_url, "ACC-0000")
    assert "expiry" in out and "-100" in out and "earned 2025-01-01 expired (30 days" in out
    assert "tier base (was silver) at" in out and ": review, rolling spend 0" in out
