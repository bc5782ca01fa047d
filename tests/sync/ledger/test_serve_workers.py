"""`kopilka ledger serve --workers N`: worker processes on one port, exactly-once kept.

The same batch sent twice at the same moment, over new connections that
the kernel deals to either worker, is applied once; the workers are real
processes (each with its own connections) that stop with their parent,
and a worker that dies is replaced.
"""
from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sync.ledger import Ledger

from .helpers import BUNDLE_TEXT, MEMBERS_CSV, TillSim
from .rules import assert_sound
from .test_races import race, results, upload
from .test_server import Server

pytestmark = pytest.mark.timeout(240)


def workers_of(pid: int) -> list[int]:
    """The worker processes (multiprocessing ``spawn`` children) of process ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"spawn_main" in cmd:
            found.append(int(entry.name))
    return sorted(found)


def wait_until(what: str, condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)  # polling a condition with a deadline


@pytest.fixture
def two_workers(db_url: str, tmp_path: Path) -> Iterator[tuple[str, TillSim, Server]]:
    with Ledger(db_url) as led:
        led.import_bundle(BUNDLE_TEXT)
        led.import_members(MEMBERS_CSV)
        till = TillSim("KY-001-01", "KY-001", led.add_till("KY-001", "KY-001-01"))
    server = Server(db_url, tmp_path / "ledger.log", "--workers", "2")
    try:
        wait_until("both workers run", lambda: len(workers_of(server.proc.pid)) == 2)
        yield db_url, till, server
    finally:
        pids = workers_of(server.proc.pid)
        server.kill()
        wait_until("the workers stop with their parent",
                   lambda: not any(Path(f"/proc/{p}").exists() for p in pids))


def test_the_same_batch_sent_twice_at_once_to_two_workers_is_applied_once(
        two_workers: tuple[str, TillSim, Server]) -> None:
    db_url, till, server = two_workers
    batches = [[till.sale(["A-77", "B-01", None][i % 3]) for i in range(30)] for _ in range(6)]
    for batch in batches:
        answers = race([upload(server, till, batch), upload(server, till, batch)])
        assert Counter(r["status"] for resp in answers for r in results(resp)) == {
            "accepted": 30, "duplicate": 30}
    accrued: Counter[str] = Counter({"A-77": 500, "B-01": 40})  # the opening balances
    for sale in (s for b in batches for s in b if s["customer"]):
        accrued[sale["customer"]["account"]] += sale["result"]["totals"]["points"]
    with Ledger(db_url) as led:
        assert {a: led.balance(a) for a in accrued} == dict(accrued)
        with led.storage.transaction() as tx:
            assert tx.one("SELECT COUNT(*), COUNT(DISTINCT txn_id) FROM sales") == (180, 180)
        assert_sound(led)


def test_a_worker_that_dies_is_replaced_and_the_port_keeps_answering(
        two_workers: tuple[str, TillSim, Server]) -> None:
    _, till, server = two_workers
    first = workers_of(server.proc.pid)
    os.kill(first[0], signal.SIGKILL)
    wait_until("a new worker replaces the dead one",
               lambda: len(workers_of(server.proc.pid)) == 2
               and first[0] not in workers_of(server.proc.pid))
    for _ in range(6):  # new connections: whichever worker takes them answers
        assert httpx.get(server.url + "/v1/time", timeout=10).status_code == 200
    resp = upload(server, till, [till.sale("A-77")])()
    assert results(resp)[0]["status"] == "accepted"


def test_workers_on_a_taken_port_are_refused_in_one_line(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-c", "from sync.ledger.cli import ledger; ledger()", "serve",
             "--db", f"sqlite:///{tmp_path / 'ledger.db'}", "--port", str(port), "--workers", "2"],
            cwd=Path(__file__).resolve().parents[3], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"Error: cannot_listen: cannot listen on 127.0.0.1:{port}: [Errno 98] Address already in use"]
