from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sync import Backoff, Outbox, TillDb, Uploader, UploaderBusy

from .conftest import STORE, TILL, make_txn
from .fake_ledger import FakeLedger

ROOT = Path(__file__).resolve().parents[2]


def wait_for(cond, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return bool(cond())


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


@pytest.fixture
def uploader(outbox: Outbox, ledger: FakeLedger) -> Iterator[Uploader]:
    up = Uploader(outbox, base_url="http://ledger", key="k-1", transport=ledger.transport(),
                  batch_size=10, backoff=Backoff(base=0.01, cap=0.05, rng=random.Random(0)),
                  heartbeat_every_s=0, poll_every_s=0.05)
    yield up
    up.close()


def test_accepted_rows_are_acknowledged_oldest_first_in_batches(outbox: Outbox, uploader: Uploader,
                                                                ledger: FakeLedger) -> None:
    outbox.append_many(make_txn(i) for i in range(25))
    seen: list[tuple[int, int]] = []
    report = uploader.sync_now(lambda done, total: seen.append((done, total)))
    assert (report.accepted, report.remaining, report.error) == (25, 0, None)
    assert seen == [(10, 25), (20, 25), (25, 25)]
    assert len(ledger.requests) == 3
    sent = [t["seq"] for r in ledger.requests for t in json.loads(gzip.decompress(r.content))["transactions"]]
    assert sent == list(range(1, 26))  # oldest first, each row once, read-ahead included
    assert sorted(ledger.by_seq) == list(range(1, 26))
    assert outbox.status().acked_through == 25


def test_batches_are_gzip_json_with_the_exact_committed_rows(outbox: Outbox, uploader: Uploader,
                                                             ledger: FakeLedger) -> None:
    rows = [outbox.append(make_txn(i)) for i in range(3)]
    uploader.sync_now()
    req = ledger.requests[0]
    assert req.headers["content-encoding"] == "gzip"
    assert req.headers["authorization"] == "Bearer k-1"
    body = json.loads(gzip.decompress(req.content))
    assert body["till"] == TILL and body["store"] == STORE
    assert [json.dumps(t, sort_keys=True, separators=(",", ":")) for t in body["transactions"]] == [
        r.body for r in rows
    ]


def test_duplicates_count_as_acknowledged(outbox: Outbox, uploader: Uploader, ledger: FakeLedger) -> None:
    rows = [outbox.append(make_txn(i)) for i in range(3)]
    ledger.applied[rows[0].txn_id] = rows[0].txn
    ledger.by_seq[1] = rows[0].txn_id
    report = uploader.sync_now()
    assert (report.accepted, report.duplicate) == (2, 1)
    assert outbox.status().queue_depth == 0


def test_rejected_rows_are_quarantined_counted_and_never_block_the_queue(
        outbox: Outbox, uploader: Uploader, ledger: FakeLedger) -> None:
    rows = [outbox.append(make_txn(i)) for i in range(5)]
    ledger.reject_txn_ids.add(rows[1].txn_id)
    report = uploader.sync_now()
    assert (report.accepted, report.rejected, report.remaining) == (4, 1, 0)
    assert [q["seq"] for q in outbox.quarantined()] == [2]
    assert uploader.status()["rejected"] == 1
    assert uploader.counters.rejected == 1


def test_5xx_with_retry_after_backs_off_at_least_that_long(outbox: Outbox, uploader: Uploader,
                                                          ledger: FakeLedger) -> None:
    outbox.append(make_txn())
    ledger.fail = lambda r: httpx.Response(503, headers={"Retry-After": "7"}, json={"error": "busy"})
    waits: list[float] = []
    report = uploader.sync_now(max_failures=2, wait=waits.append)
    assert report.error is not None and "503" in report.error
    assert report.remaining == 1
    assert waits and all(w >= 7.0 for w in waits)
    assert uploader.backoff.remaining() > 6.0
    assert outbox.status().acked_through == 0


def test_429_and_auth_failures_are_retried_not_quarantined(outbox: Outbox, uploader: Uploader,
                                                            ledger: FakeLedger) -> None:
    outbox.append(make_txn())
    for status in (429, 401, 403):
        ledger.fail = lambda r, s=status: httpx.Response(s, json={"error": "x"})
        report = uploader.sync_now(max_failures=1)
        assert report.remaining == 1 and str(status) in (report.error or "")
    assert outbox.quarantined() == []


def test_timeouts_leave_rows_pending_and_are_reported(outbox: Outbox, uploader: Uploader,
                                                      ledger: FakeLedger) -> None:
    outbox.append(make_txn())

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    ledger.fail = timeout
    report = uploader.sync_now(max_failures=2, wait=lambda s: None)
    assert report.error is not None and "ReadTimeout" in report.error
    assert uploader.status()["counters"]["last_error"] == report.error
    assert outbox.status().queue_depth == 1
    ledger.fail = None
    assert uploader.sync_now().accepted == 1


def test_a_garbled_200_answer_is_retried(outbox: Outbox, uploader: Uploader, ledger: FakeLedger) -> None:
    outbox.append(make_txn())
    ledger.fail = lambda r: httpx.Response(200, content=b"<html>proxy</html>")
    assert uploader.sync_now(max_failures=1).error is not None
    ledger.fail = lambda r: httpx.Response(200, json={"results": [], "epoch": "e1"})
    assert "without results" in (uploader.sync_now(max_failures=1).error or "")
    assert outbox.status().queue_depth == 1


def test_a_batch_refused_whole_with_4xx_is_split_until_the_bad_row_is_quarantined(
        outbox: Outbox, uploader: Uploader, ledger: FakeLedger) -> None:
    rows = [outbox.append(make_txn(i)) for i in range(8)]
    poison = rows[5].txn_id

    def refuse(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/v1/transactions" and poison.encode() in gzip.decompress(request.content):
            return httpx.Response(422, json={"error": "invalid", "detail": "basket.lines[0]",
                                             "field": "transactions[5].basket"})
        return None

    ledger.fail = refuse
    report = uploader.sync_now()
    assert (report.accepted, report.rejected, report.remaining) == (7, 1, 0)
    q = outbox.quarantined()
    assert [(e["seq"], e["reason"], e["detail"]) for e in q] == [(6, "invalid", "basket.lines[0]")]


def test_a_single_row_refused_with_a_non_json_4xx_is_quarantined(outbox: Outbox, uploader: Uploader,
                                                                 ledger: FakeLedger) -> None:
    outbox.append(make_txn())
    ledger.fail = lambda r: httpx.Response(413, content=b"too big")
    assert uploader.sync_now().rejected == 1
    assert outbox.quarantined()[0]["reason"] == "http_413"


def test_the_retry_timer_fires_with_no_new_sale_to_wake_it(outbox: Outbox, uploader: Uploader,
                                                            ledger: FakeLedger) -> None:
    outbox.append_many(make_txn(i) for i in range(15))
    failures = {"left": 3}

    def flaky(request: httpx.Request) -> httpx.Response | None:
        if failures["left"] > 0:
            failures["left"] -= 1
            return httpx.Response(503, json={"error": "busy"})
        return None

    ledger.fail = flaky
    uploader.start()  # no append after this point
    assert wait_for(lambda: outbox.status().queue_depth == 0)
    assert uploader.counters.failures == 3
    assert sorted(ledger.by_seq) == list(range(1, 16))


def test_a_new_sale_wakes_the_running_uploader(outbox: Outbox, ledger: FakeLedger, db_path: str) -> None:
    up = Uploader(outbox, base_url="http://ledger", key="k", transport=ledger.transport(),
                  heartbeat_every_s=0, poll_every_s=3600)
    try:
        up.start()
        assert wait_for(lambda: len(ledger.requests) == 0)
        outbox.append(make_txn())
        assert wait_for(lambda: outbox.status().queue_depth == 0)
    finally:
        up.close()


def test_sales_commit_while_the_ledger_is_down(outbox: Outbox, uploader: Uploader,
                                               ledger: FakeLedger) -> None:
    ledger.fail = lambda r: httpx.Response(503, json={"error": "down"})
    uploader.start()
    rows = [outbox.append(make_txn(i)) for i in range(20)]
    assert rows[-1].seq == 20
    assert wait_for(lambda: uploader.counters.failures >= 2)
    assert outbox.status().queue_depth == 20
    ledger.fail = None
    assert wait_for(lambda: outbox.status().queue_depth == 0)


def test_heartbeat_reports_queue_versions_and_hardware(outbox: Outbox, ledger: FakeLedger) -> None:
    outbox.append(make_txn())
    up = Uploader(outbox, base_url="http://ledger", key="k", transport=ledger.transport(),
                  hardware=lambda: {"scanner": "ok", "printer": "paper_out"},
                  bundle_version=lambda: 7, agent_version="0.1.0", heartbeat_every_s=0)
    try:
        assert up.heartbeat()
        hb = ledger.heartbeats[0]
        assert (hb["till"], hb["store"], hb["queue_depth"], hb["bundle_version"], hb["agent_version"]) == (
            TILL, STORE, 1, 7, "0.1.0")
        assert hb["hardware"] == {"scanner": "ok", "printer": "paper_out"}
        assert isinstance(hb["oldest_unsynced_age_s"], int) and "T" in hb["at"]
        assert outbox.status().epoch == "e1"
    finally:
        up.close()


def test_a_failing_health_probe_or_ledger_does_not_break_the_heartbeat(outbox: Outbox,
                                                                       ledger: FakeLedger) -> None:
    def broken() -> dict[str, str]:
        raise RuntimeError("usb gone")

    up = Uploader(outbox, base_url="http://ledger", key="k", transport=ledger.transport(), hardware=broken,
                  heartbeat_every_s=0)
    try:
        assert up.heartbeat()
        assert "usb gone" in ledger.heartbeats[0]["hardware"]["health_probe"]
        ledger.fail = lambda r: httpx.Response(500)
        assert not up.heartbeat()

        def offline(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

        ledger.fail = offline
        assert not up.heartbeat()
    finally:
        up.close()


def test_heartbeats_are_sent_on_a_schedule_by_the_loop(outbox: Outbox, ledger: FakeLedger) -> None:
    up = Uploader(outbox, base_url="http://ledger", key="k", transport=ledger.transport(),
                  heartbeat_every_s=0.02)
    try:
        up.start()
        assert wait_for(lambda: len(ledger.heartbeats) >= 3)
    finally:
        up.close()


def test_a_restore_epoch_in_a_heartbeat_makes_the_loop_reoffer(outbox: Outbox, ledger: FakeLedger) -> None:
    outbox.append_many(make_txn(i) for i in range(6))
    up = Uploader(outbox, base_url="http://ledger", key="k", transport=ledger.transport(),
                  heartbeat_every_s=3600)
    try:
        up.sync_now()
        ledger.restore(keep_through=2, epoch="e2")
        up.start()  # first loop round sends a heartbeat
        assert wait_for(lambda: sorted(ledger.by_seq) == list(range(1, 7)))
        assert wait_for(lambda: outbox.status().queue_depth == 0)
        assert outbox.status().epoch == "e2"
    finally:
        up.close()


def test_only_one_uploader_per_till_database(outbox: Outbox, db_path: str) -> None:
    first = Uploader(outbox, base_url="http://ledger", key="k", transport=FakeLedger().transport())
    try:
        with TillDb(db_path) as other_db:
            other = Outbox(other_db, till=TILL, store=STORE)
            with pytest.raises(UploaderBusy) as info:
                Uploader(other, base_url="http://ledger", key="k", transport=FakeLedger().transport())
            assert info.value.reason == "busy"
    finally:
        first.close()
    second = Uploader(outbox, base_url="http://ledger", key="k", transport=FakeLedger().transport())
    second.close()


LOCK_SCRIPT = r"""
import sys
sys.path.insert(0, sys.argv[2])
import httpx
from sync import Outbox, TillDb, Uploader, UploaderBusy
db = TillDb(sys.argv[1])
try:
    Uploader(Outbox(db, till="T", store="S"), base_url="http://x", key="k",
             transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    print("acquired")
except UploaderBusy:
    print("busy")
"""


def test_a_second_agent_process_cannot_start_an_uploader(outbox: Outbox, db_path: str) -> None:
    up = Uploader(outbox, base_url="http://ledger", key="k", transport=FakeLedger().transport())
    try:
        out = subprocess.run([sys.executable, "-c", LOCK_SCRIPT, db_path, str(ROOT)],
                             capture_output=True, text=True, check=True).stdout
        assert out.strip() == "busy"
    finally:
        up.close()
    out = subprocess.run([sys.executable, "-c", LOCK_SCRIPT, db_path, str(ROOT)],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "acquired"


def test_status_shows_queue_quarantine_wal_and_retry(outbox: Outbox, uploader: Uploader) -> None:
    outbox.append(make_txn())
    st = uploader.status()
    for key in ("queue_depth", "oldest_unsynced_age_s", "rejected", "acked_through", "wal_bytes",
                "retry_in_s", "counters"):
        assert key in st
    assert st["queue_depth"] == 1


def test_sync_now_and_the_loop_never_send_concurrently(outbox: Outbox, uploader: Uploader,
                                                        ledger: FakeLedger) -> None:
    outbox.append_many(make_txn(i) for i in range(200))
    uploader.start()
    threads = [threading.Thread(target=uploader.sync_now) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wait_for(lambda: outbox.status().queue_depth == 0)
    assert ledger.apply_count == 200
    assert sum(1 for r in ledger.requests if r.url.path == "/v1/transactions") == 20


def test_a_ledger_refusing_gzip_gets_plain_json_and_no_row_is_quarantined(
        outbox: Outbox, uploader: Uploader, ledger: FakeLedger) -> None:
    outbox.append_many(make_txn(i) for i in range(3))

    def no_gzip(request: httpx.Request) -> httpx.Response | None:
        if request.headers.get("content-encoding") == "gzip":
            return httpx.Response(415, json={"error": "unsupported_encoding", "detail": "gzip"})
        return None

    ledger.fail = no_gzip
    report = uploader.sync_now(wait=lambda s: None)
    assert (report.accepted, report.rejected, report.remaining) == (3, 0, 0)
    assert outbox.quarantined() == []
    assert "content-encoding" not in ledger.requests[-1].headers


def test_after_a_failure_the_next_batch_starts_again_from_the_oldest_row(
        outbox: Outbox, uploader: Uploader, ledger: FakeLedger) -> None:
    outbox.append_many(make_txn(i) for i in range(30))
    calls = {"n": 0}

    def second_fails(request: httpx.Request) -> httpx.Response | None:
        calls["n"] += 1
        return httpx.Response(503, json={"error": "busy"}) if calls["n"] == 2 else None

    ledger.fail = second_fails
    uploader.sync_now(wait=lambda s: None)
    firsts = [json.loads(gzip.decompress(r.content))["transactions"][0]["seq"] for r in ledger.requests]
    assert firsts == [1, 11, 11, 21]
    assert outbox.status().queue_depth == 0


def test_a_bad_configuration_does_not_leave_the_lock_held(outbox: Outbox) -> None:
    with pytest.raises(httpx.InvalidURL):
        Uploader(outbox, base_url="http://[::1", key="k", transport=FakeLedger().transport())
    Uploader(outbox, base_url="http://ledger", key="k", transport=FakeLedger().transport()).close()
