from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sync import GENESIS, Outbox, OutboxError, TillDb, txn_hash

from .conftest import STORE, TILL, make_txn

ROOT = Path(__file__).resolve().parents[2]


def test_seq_starts_at_one_and_rows_chain_from_genesis(outbox: Outbox) -> None:
    rows = [outbox.append(make_txn(i)) for i in range(5)]
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    txn = rows[2].txn
    assert txn["till"] == TILL and txn["store"] == STORE and txn["seq"] == 3
    assert txn_hash(txn) == txn["hash"] == rows[2].hash
    assert outbox.verify() == 5


def test_committed_row_body_is_the_canonical_json_sent_upstream(outbox: Outbox) -> None:
    row = outbox.append(make_txn())
    assert json.loads(row.body)["hash"] == row.hash
    assert row.body == outbox.pending()[0].body


def test_extra_statements_commit_in_the_same_transaction(outbox: Outbox, tilldb: TillDb) -> None:
    tilldb.conn.execute("CREATE TABLE session_journal (txn_id TEXT, state TEXT)")
    txn = make_txn()
    outbox.append(txn, extra=[("INSERT INTO session_journal VALUES (?, 'closed')", (txn["txn_id"],))])
    assert tilldb.conn.execute("SELECT state FROM session_journal").fetchall() == [("closed",)]


def test_a_failing_extra_statement_rolls_back_the_sale_and_its_seq(outbox: Outbox) -> None:
    with pytest.raises(OutboxError) as info:
        outbox.append(make_txn(), extra=[("INSERT INTO no_such_table VALUES (1)", ())])
    assert info.value.reason == "database"
    assert outbox.status().last_seq == 0
    assert outbox.append(make_txn()).seq == 1


def test_the_same_txn_id_twice_is_refused_and_nothing_is_committed(outbox: Outbox) -> None:
    txn = make_txn()
    outbox.append(txn)
    with pytest.raises(OutboxError) as info:
        outbox.append(txn)
    assert info.value.reason == "duplicate_txn_id"
    assert outbox.status().last_seq == 1
    assert outbox.append(make_txn()).seq == 2


def test_invalid_kind_is_refused(outbox: Outbox) -> None:
    with pytest.raises(OutboxError) as info:
        outbox.append(make_txn(kind="refund"))
    assert info.value.reason == "invalid"


def test_a_missing_txn_id_is_made_at_the_till(outbox: Outbox) -> None:
    txn = make_txn()
    del txn["txn_id"]
    row = outbox.append(txn)
    assert len(row.txn_id) == 36


def test_concurrent_appends_from_threads_on_one_outbox_are_gap_free(outbox: Outbox) -> None:
    def work() -> None:
        for i in range(50):
            outbox.append(make_txn(i))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.seq for r in outbox.rows()] == list(range(1, 401))
    assert outbox.verify() == 400


def test_concurrent_appends_from_separate_connections_are_gap_free(db_path: str) -> None:
    dbs = [TillDb(db_path) for _ in range(4)]
    try:
        boxes = [Outbox(db, till=TILL, store=STORE) for db in dbs]
        errors: list[BaseException] = []

        def work(box: Outbox) -> None:
            try:
                for i in range(40):
                    box.append(make_txn(i))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(b,)) for b in boxes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert [r.seq for r in boxes[0].rows()] == list(range(1, 161))
        assert boxes[0].verify() == 160
    finally:
        for db in dbs:
            db.close()


def test_cursor_moves_only_on_the_ledgers_acknowledgement(outbox: Outbox) -> None:
    rows = [outbox.append(make_txn(i)) for i in range(4)]
    assert outbox.status().acked_through == 0
    assert outbox.status().queue_depth == 4
    counts = outbox.record_results(
        [{"txn_id": rows[0].txn_id, "seq": 1, "status": "accepted"},
         {"txn_id": rows[1].txn_id, "seq": 2, "status": "duplicate"}],
        epoch="e1", high_water=2,
    )
    assert (counts.accepted, counts.duplicate) == (1, 1)
    st = outbox.status()
    assert (st.acked_through, st.queue_depth, st.epoch, st.ledger_high_water) == (2, 2, "e1", 2)
    assert [r.seq for r in outbox.pending()] == [3, 4]


def test_rejected_rows_are_quarantined_and_do_not_block_the_rows_behind(outbox: Outbox) -> None:
    rows = [outbox.append(make_txn(i)) for i in range(3)]
    outbox.record_results(
        [{"txn_id": rows[0].txn_id, "status": "rejected", "reason": "bad_store", "detail": "x"},
         {"txn_id": rows[1].txn_id, "status": "accepted"}],
        epoch="e1", high_water=2,
    )
    assert [r.seq for r in outbox.pending()] == [3]
    q = outbox.quarantined()
    assert [(e["seq"], e["reason"], e["detail"]) for e in q] == [(1, "bad_store", "x")]
    st = outbox.status()
    assert st.rejected == 1 and st.acked_through == 2


def test_a_quarantined_row_can_be_requeued_by_the_operator(outbox: Outbox) -> None:
    row = outbox.append(make_txn())
    outbox.quarantine(row.seq, "invalid", "bad line")
    assert outbox.pending() == []
    outbox.requeue(row.seq)
    assert [r.seq for r in outbox.pending()] == [1]
    with pytest.raises(OutboxError) as info:
        outbox.requeue(row.seq)
    assert info.value.reason == "not_quarantined"
    with pytest.raises(OutboxError):
        outbox.quarantine(99, "invalid")


def test_answers_for_unknown_txn_ids_or_statuses_change_nothing(outbox: Outbox) -> None:
    outbox.append(make_txn())
    counts = outbox.record_results(
        [{"txn_id": "nope", "status": "accepted"},
         {"txn_id": outbox.rows()[0].txn_id, "status": "weird"}],
        epoch=None, high_water=None,
    )
    assert counts.accepted == 0
    assert outbox.status().queue_depth == 1


def test_epoch_change_reoffers_every_row_above_the_ledgers_high_water(outbox: Outbox) -> None:
    rows = [outbox.append(make_txn(i)) for i in range(6)]
    outbox.record_results([{"txn_id": r.txn_id, "status": "accepted"} for r in rows], epoch="e1", high_water=6)
    assert outbox.status().queue_depth == 0
    # The ledger was restored from a backup holding only seqs 1..3.
    reoffered = outbox.observe_epoch("e2", high_water=3)
    assert reoffered == 3
    assert [r.seq for r in outbox.pending()] == [4, 5, 6]
    assert outbox.status().epoch == "e2"
    assert outbox.observe_epoch("e2", high_water=6) == 0


def test_epoch_change_seen_in_a_heartbeat_probes_with_the_newest_acked_row(outbox: Outbox) -> None:
    rows = [outbox.append(make_txn(i)) for i in range(4)]
    outbox.record_results([{"txn_id": r.txn_id, "status": "accepted"} for r in rows], epoch="e1", high_water=4)
    assert outbox.observe_epoch("e2") == 1
    assert [r.seq for r in outbox.pending()] == [4]
    assert outbox.status().epoch == "e1"  # not yet verified under the new epoch
    # The probe's answer carries the new epoch and its high-water mark.
    outbox.record_results([{"txn_id": rows[3].txn_id, "status": "accepted"}], epoch="e2", high_water=1)
    assert [r.seq for r in outbox.pending()] == [2, 3, 4]
    assert outbox.status().epoch == "e2"


def test_first_epoch_seen_is_recorded_without_reoffering(outbox: Outbox) -> None:
    outbox.append(make_txn())
    assert outbox.observe_epoch("e1") == 0
    assert outbox.status().epoch == "e1"


def test_an_edited_row_breaks_the_chain(outbox: Outbox, tilldb: TillDb) -> None:
    for i in range(3):
        outbox.append(make_txn(i))
    body = json.loads(outbox.rows()[1].body)
    body["result"]["totals"]["total"] = 1
    tilldb.conn.execute("UPDATE outbox SET body = ? WHERE seq = 2", (json.dumps(body),))
    with pytest.raises(OutboxError) as info:
        outbox.verify()
    assert info.value.reason == "broken_chain" and "seq 2" in str(info.value)


CRASH_SCRIPT = r"""
import sys, uuid
sys.path.insert(0, sys.argv[2])
from sync import Outbox, TillDb
db = TillDb(sys.argv[1])
box = Outbox(db, till="KY-001-01", store="KY-001")
n = 0
while True:
    n += 1
    box.append({"txn_id": str(uuid.uuid4()), "basket": {"n": n}, "result": {"total": n}})
    if n == 50:
        print("ready", flush=True)
"""


def test_kill_9_mid_append_loop_leaves_contiguous_rows_and_a_valid_chain(db_path: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASH_SCRIPT, db_path, str(ROOT)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:  # pragma: no cover
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    with TillDb(db_path) as db:
        box = Outbox(db, till=TILL, store=STORE)
        n = box.verify()
        assert n >= 50
        assert [r.seq for r in box.rows()] == list(range(1, n + 1))
        assert box.append(make_txn()).seq == n + 1
        assert box.verify() == n + 1


def test_rows_survive_reopening(db_path: str) -> None:
    with TillDb(db_path) as db:
        Outbox(db, till=TILL, store=STORE).append_many(make_txn(i) for i in range(10))
    with TillDb(db_path) as db:
        box = Outbox(db, till=TILL, store=STORE)
        assert box.verify() == 10
        assert box.status().queue_depth == 10
    assert os.path.exists(db_path)
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 10
    raw.close()


def test_an_answer_for_rows_already_settled_counts_only_what_changed(outbox: Outbox) -> None:
    rows = [outbox.append(make_txn(i)) for i in range(3)]
    first = outbox.record_results([{"txn_id": r.txn_id, "status": "accepted"} for r in rows[:2]],
                                  epoch="e1", high_water=2, sent=rows[:2])
    assert first.accepted == 2
    again = outbox.record_results([{"txn_id": r.txn_id, "status": "duplicate"} for r in rows],
                                  epoch="e1", high_water=3, sent=rows)
    assert (again.accepted, again.duplicate) == (0, 1)
    assert outbox.status().acked_through == 3


def test_an_answer_larger_than_one_ack_chunk_is_recorded_whole(outbox: Outbox) -> None:
    from sync._outbox import ACK_CHUNK

    outbox.append_many(make_txn(i) for i in range(ACK_CHUNK * 2 + 5))
    rows = outbox.pending(1000)
    answer = [{"txn_id": r.txn_id, "status": "accepted" if r.seq % 2 else "duplicate"} for r in rows]
    answer[-1] = {"txn_id": rows[-1].txn_id, "status": "rejected", "reason": "invalid"}
    counts = outbox.record_results(answer, epoch="e1", high_water=len(rows) - 1, sent=rows)
    assert counts.accepted + counts.duplicate == len(rows) - 1 and counts.rejected == 1
    st = outbox.status()
    assert (st.queue_depth, st.acked_through, st.epoch, st.rejected) == (0, len(rows), "e1", 1)
