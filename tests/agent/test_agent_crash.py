"""SIGKILL a real till process mid-sale and mid-commit, restart: nothing lost,
nothing doubled (a sale is final exactly when its outbox row commits)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from agent._catalog import Catalog
from agent._till import Till
from sync import TillDb

CHILD = Path(__file__).with_name("agent_child.py")
ROOT = Path(__file__).resolve().parents[2]


class Child:
    def __init__(self, mode: str, tmp: Path) -> None:
        self.db, self.receipts = tmp / "till.sqlite3", tmp / "receipts.jsonl"
        self.proc = subprocess.Popen([sys.executable, str(CHILD), mode, str(self.db), str(self.receipts)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)

    def read(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "the child died before reaching the point"
        return line.strip()

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        assert self.proc.returncode == -signal.SIGKILL
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


def restart(tmp: Path, printed: list[str]) -> Till:
    class P:
        def print_receipt(self, job: dict) -> None:  # type: ignore[type-arg]
            printed.append(job["receipt_id"])

    catalog = Catalog(json.loads((ROOT / "examples" / "bundle.json").read_text(encoding="utf-8")))
    return Till(TillDb(tmp / "till.sqlite3"), catalog, till="KY-001-01", store="KY-001", program="kopilka",
                printer=P())


def check_books(till: Till) -> None:
    rows = till.outbox.rows()
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert till.outbox.verify() == len(rows)
    assert len({r.txn_id for r in rows}) == len(rows)
    n_sales = till.db.conn.execute("SELECT COUNT(*) FROM agent_sale").fetchone()[0]
    assert n_sales == len(rows)
    assert till.db.conn.execute("SELECT COUNT(*) FROM agent_session WHERE state='committed'").fetchone()[0] == 0


def test_sigkill_mid_sale_restores_the_open_basket(tmp_path: Path) -> None:
    child = Child("mid_sale", tmp_path)
    sid = child.read().split()[1]
    child.kill()
    till = restart(tmp_path, [])
    try:
        s = till.current()
        assert s is not None and s.id == sid and len(s.lines) == 3 and s.result is not None
        till.pay(s.id)
        assert len(till.outbox.rows()) == 1
        check_books(till)
    finally:
        till.db.close()


def test_sigkill_inside_the_commit_transaction_loses_the_uncommitted_row_but_not_the_sale(tmp_path: Path) -> None:
    child = Child("in_commit", tmp_path)
    assert child.read() == "IN_COMMIT"
    child.kill()
    printed: list[str] = []
    till = restart(tmp_path, printed)
    try:
        assert till.outbox.rows() == []
        s = till.current()
        assert s is not None and [ln["sku"] for ln in s.lines] == ["4607000000014"]
        s = till.pay(s.id)
        assert len(till.outbox.rows()) == 1 and printed == [s.receipt_id]
        check_books(till)
    finally:
        till.db.close()


def test_sigkill_after_the_commit_prints_on_restart_and_never_commits_again(tmp_path: Path) -> None:
    child = Child("after_commit", tmp_path)
    txn_id = child.read().split()[1]
    child.kill()
    printed: list[str] = []
    till = restart(tmp_path, printed)
    try:
        rows = till.outbox.rows()
        assert [r.txn_id for r in rows] == [txn_id]
        assert till.current() is None and printed == ["KY-001-01/1"]
        check_books(till)
    finally:
        till.db.close()


def test_sigkill_at_arbitrary_points_of_a_busy_till_loses_and_doubles_nothing(tmp_path: Path) -> None:
    reported: list[str] = []
    for round_ in range(3):
        child = Child("loop", tmp_path)
        for _ in range(5 + 3 * round_):
            reported.append(child.read().split()[1])
        child.kill()
        till = restart(tmp_path, [])
        try:
            check_books(till)
            ids = [r.txn_id for r in till.outbox.rows()]
            assert set(reported) <= set(ids)
            s = till.current()
            if s is not None:  # a sale was open at the kill: finish it once
                if s.lines:
                    till.pay(s.id)
                else:
                    till.cancel(s.id)
                check_books(till)
        finally:
            till.db.close()
