"""Re-enrolling a wiped till (``kopilka till re-enrol``) against the real ledger, both backends."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from sync import Outbox, OutboxError, SyncError, TillDb, Uploader, UploaderBusy
from sync import re_enrol

from .conftest import make_txn
from .ledger_server import LedgerServer, free_port, ledger_available

pytestmark = pytest.mark.skipif(not ledger_available(), reason="sync.ledger is not available")


def _sync(outbox: Outbox, server: LedgerServer) -> Uploader:
    up = Uploader(outbox, base_url=server.base_url, key=server.key, heartbeat_every_s=0)
    up.sync_now(wait=lambda s: None)
    return up


def _ledger_seqs(server: LedgerServer) -> list[tuple[int, str]]:
    with server.ledger() as led, led.storage.transaction() as tx:
        return [(int(r[0]), str(r[1])) for r in tx.all(
            "SELECT seq, txn_id FROM till_seqs WHERE till = ? ORDER BY seq", (server.till,))]


def _wiped_till_with_conflicts(server: LedgerServer, data: Path) -> tuple[list[str], list[str]]:
    """Sell 3 and sync, wipe the data folder, sell 2: both refused as seq_conflict."""
    data.mkdir()
    with TillDb(data / "till.sqlite3") as db:
        box = Outbox(db, till=server.till, store=server.store)
        old = [box.append(make_txn(i)).txn_id for i in range(3)]
        _sync(box, server).close()
    shutil.rmtree(data)
    data.mkdir()
    with TillDb(data / "till.sqlite3") as db:
        box = Outbox(db, till=server.till, store=server.store)
        new = [box.append(make_txn(i)).txn_id for i in range(2)]
        up = _sync(box, server)
        try:
            st = up.status()
            assert st["seq_conflicts"] == 2 and "kopilka till re-enrol" in st["action"]
            assert "kopilka till re-enrol" in (up.counters.last_error or "")
            # offering them again changes nothing: still refused
            box.requeue(1)
            up.sync_now(wait=lambda s: None)
            assert box.status().seq_conflicts == 2
        finally:
            up.close()
    return old, new


def test_a_wiped_till_is_re_enrolled_and_its_new_sales_accepted_with_fresh_seqs(
        server: LedgerServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    old, new = _wiped_till_with_conflicts(server, data)
    assert _ledger_seqs(server) == list(zip([1, 2, 3], old, strict=False))
    with TillDb(data / "till.sqlite3") as db:
        box = Outbox(db, till=server.till, store=server.store)
        report = re_enrol(box, base_url=server.base_url, key=server.key, wait=lambda s: None)
        assert (report.moved.base_seq, report.moved.moved, report.moved.requeued, report.moved.next_seq) == (3, 2, 2, 6)
        assert (report.after.accepted, report.after.rejected, report.after.remaining) == (2, 0, 0)
        row = box.append(make_txn(9))
        assert row.seq == 6
        up = _sync(box, server)
        up.close()
        st = box.status()
        assert (st.queue_depth, st.rejected, st.seq_conflicts, st.last_seq) == (0, 0, 0, 6)
        assert box.verify() == 3  # chained from the ledger's seq 3
        assert [r.txn["prev_hash"] for r in box.rows()][0] == _hash_of(server, 3)
    # old accepted sales unchanged, new ones after them, nothing twice
    assert _ledger_seqs(server) == list(zip([1, 2, 3, 4, 5, 6], old + new + [row.txn_id], strict=False))
    with server.ledger() as led, led.storage.transaction() as tx:
        assert tx.one("SELECT high_water, max_seq FROM till_state WHERE till = ?", (server.till,)) == (6, 6)
        assert tx.one("SELECT COUNT(*) FROM sales WHERE till = ?", (server.till,))[0] == 6
        assert tx.one("SELECT COUNT(*) FROM till_enrolments WHERE till = ?", (server.till,))[0] == 1


def _hash_of(server: LedgerServer, seq: int) -> str:
    with server.ledger() as led, led.storage.transaction() as tx:
        return str(tx.one("SELECT hash FROM till_seqs WHERE till = ? AND seq = ?", (server.till, seq))[0])


def test_a_wiped_till_that_sold_nothing_yet_continues_after_the_ledgers_seq(
        server: LedgerServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with TillDb(data / "a.sqlite3") as db:
        box = Outbox(db, till=server.till, store=server.store)
        box.append_many(make_txn(i) for i in range(4))
        _sync(box, server).close()
    with TillDb(data / "till.sqlite3") as db:
        box = Outbox(db, till=server.till, store=server.store)
        report = re_enrol(box, base_url=server.base_url, key=server.key, wait=lambda s: None)
        assert (report.moved.moved, report.moved.next_seq) == (0, 5)
        assert box.append(make_txn(1)).seq == 5
        _sync(box, server).close()
        assert box.status().acked_through == 5 and box.verify() == 1


def test_re_enrol_is_refused_while_the_agent_holds_the_uploader(server: LedgerServer, tmp_path: Path) -> None:
    with TillDb(tmp_path / "till.sqlite3") as db:
        box = Outbox(db, till=server.till, store=server.store)
        with Uploader(box, base_url=server.base_url, key=server.key, heartbeat_every_s=0):
            with pytest.raises(UploaderBusy):
                re_enrol(box, base_url=server.base_url, key=server.key)


def test_re_enrol_changes_nothing_while_sales_cannot_reach_the_ledger(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with TillDb(tmp_path / "till.sqlite3") as db:
        box = Outbox(db, till="KY-001-01", store="KY-001")
        box.append(make_txn(1))
        before = box.rows()
        with pytest.raises(OutboxError) as err:
            re_enrol(box, base_url=dead, key="kpk_x", wait=lambda s: None)
        assert err.value.reason == "unsynced" and "nothing was changed" in str(err.value)
        assert box.rows() == before
        with pytest.raises(OutboxError) as err2:
            box.re_enrol(0, "0" * 64)  # the library refuses too
        assert err2.value.reason == "unsynced"


def test_re_enrol_with_a_key_of_another_till_is_refused(server: LedgerServer, tmp_path: Path) -> None:
    with TillDb(tmp_path / "till.sqlite3") as db:
        box = Outbox(db, till="KY-001-02", store="KY-001")
        with pytest.raises(SyncError) as err:
            re_enrol(box, base_url=server.base_url, key=server.key, wait=lambda s: None)
        assert err.value.reason == "forbidden"
        with pytest.raises(SyncError) as err2:
            re_enrol(box, base_url=server.base_url, key="kpk_wrong", wait=lambda s: None)
        assert err2.value.reason == "unauthorized"


def _config(tmp_path: Path, data: Path, server: LedgerServer | None, till: str = "KY-001-01") -> Path:
    ledger = f'[ledger]\nurl = "{server.base_url}"\nkey = "{server.key}"\n' if server else ""
    path = tmp_path / "till.toml"
    path.write_text(f'[till]\nid = "{till}"\nstore = "KY-001"\nprogram = "kopilka"\n'
                    f'[paths]\ndata_dir = "{data}"\n{ledger}', encoding="utf-8")
    return path


def test_the_re_enrol_command_recovers_a_wiped_till(server: LedgerServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    old, new = _wiped_till_with_conflicts(server, data)
    result = CliRunner().invoke(main, ["till", "re-enrol", "--config", str(_config(tmp_path, data, server))])
    assert result.exit_code == 0, result.output
    assert "up to 3" in result.output and "moved 2 sales" in result.output and "next seq 6" in result.output
    assert "2 accepted" in result.output
    assert [t for _, t in _ledger_seqs(server)] == old + new


def test_the_re_enrol_command_explains_what_is_missing(server: LedgerServer, tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "data"
    data.mkdir()
    no_ledger = runner.invoke(main, ["till", "re-enrol", "--config", str(_config(tmp_path, data, None))])
    assert no_ledger.exit_code == 1 and "[ledger] url and key" in no_ledger.output
    no_db = runner.invoke(main, ["till", "re-enrol", "--config", str(_config(tmp_path, data, server))])
    assert no_db.exit_code == 1 and "no till database" in no_db.output
    with TillDb(data / "till.sqlite3") as db:
        box = Outbox(db, till=server.till, store=server.store)
        with Uploader(box, base_url=server.base_url, key=server.key, heartbeat_every_s=0):
            busy = runner.invoke(main, ["till", "re-enrol", "--config", str(_config(tmp_path, data, server))])
    assert busy.exit_code == 1 and "stop it first" in busy.output
    other = runner.invoke(main, ["till", "re-enrol", "--config",
                                 str(_config(tmp_path, data, server, till="KY-001-09"))])
    assert other.exit_code == 1 and "re-enrol refused: forbidden" in other.output
    assert "Traceback" not in other.output
