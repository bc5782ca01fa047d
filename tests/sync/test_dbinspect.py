"""``kopilka db``: store IT reads a real till database and can change nothing."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import main
from sync import Outbox, PromoCache, TillDb
from sync._dbinspect import DbInspectError, TillDbReader

from .conftest import STORE, TILL, make_txn

ROOT = Path(__file__).resolve().parents[2]
CARD = "2900000123454"
OTHER_CARD = "2900000777775"
SKU = "4601234567893"  # an EAN-13 too, but no card prefix: never masked


@pytest.fixture
def till_file(tmp_path: Path) -> Path:
    """A till database as the agent leaves it: a bundle with a customer, three sales, one quarantined."""
    path = tmp_path / "data" / "till.sqlite3"
    path.parent.mkdir()
    bundle = json.loads((ROOT / "examples" / "bundle.json").read_text(encoding="utf-8"))
    bundle["customers"] = [{"card": CARD, "account": "A-77", "tier": "gold"}]
    with TillDb(path) as db:
        PromoCache(db).install(bundle)
        outbox = Outbox(db, till=TILL, store=STORE)
        rows = [outbox.append(make_txn(n, customer={"card": CARD if n != 1 else OTHER_CARD, "account": "A-77"}))
                for n in range(3)]
        outbox.quarantine(rows[2].seq, "bad_card", f"ledger: unknown card {OTHER_CARD}")
    return path


@pytest.fixture
def reader(till_file: Path) -> Iterator[TillDbReader]:
    with TillDbReader(till_file) as r:
        yield r


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_tables_of_the_till_are_listed_with_their_row_counts(reader: TillDbReader) -> None:
    tables = {t.name: t for t in reader.tables()}
    assert {"outbox", "quarantine", "sync_state", "promo_bundle", "promo_entry", "promo_customer",
            "_migrations"} <= set(tables)
    assert tables["outbox"].rows == 3 and tables["quarantine"].rows == 1
    assert tables["outbox"].kind == "table" and tables["outbox"].columns[:2] == ("seq", "txn_id")


def test_rows_are_filtered_and_limited(reader: TillDbReader) -> None:
    listing = reader.rows("outbox", where="seq >= 2", limit=1)
    assert listing.columns[:2] == ("seq", "txn_id")
    assert [row[0] for row in listing.rows] == [2]
    assert reader.rows("outbox", where="seq > 99").rows == []


def test_a_query_reads_what_it_selects(reader: TillDbReader) -> None:
    listing = reader.query("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
    assert listing.columns == ("status", "n") and listing.rows == [("pending", 2), ("rejected", 1)]


@pytest.mark.parametrize("sql", [
    "DELETE FROM outbox",
    "UPDATE outbox SET status = 'acked'",
    "INSERT INTO sync_state (key, value) VALUES ('x', 'y')",
    "DROP TABLE quarantine",
    "CREATE TABLE mine (x)",
    "CREATE TEMP TABLE mine (x)",
    "PRAGMA journal_mode = DELETE",
    "PRAGMA user_version = 7",
    "BEGIN IMMEDIATE",
])
def test_a_statement_that_would_write_is_refused_and_changes_nothing(till_file: Path, sql: str) -> None:
    before = _digest(till_file)
    with TillDbReader(till_file) as reader, pytest.raises(DbInspectError) as err:
        reader.query(sql)
    assert err.value.reason == "read_only"
    assert _digest(till_file) == before
    with TillDb(till_file) as db:
        assert len(Outbox(db, till=TILL, store=STORE).rows()) == 3


@pytest.mark.parametrize("sql", ["ATTACH DATABASE '{other}' AS other", "VACUUM INTO '{other}'"])
def test_no_other_file_can_be_written_either(till_file: Path, tmp_path: Path, sql: str) -> None:
    other = tmp_path / "copy.sqlite3"
    with TillDbReader(till_file) as reader, pytest.raises(DbInspectError) as err:
        reader.query(sql.format(other=other))
    assert err.value.reason == "read_only" and not other.exists()


def test_describing_pragmas_still_answer(reader: TillDbReader) -> None:
    assert ("seq",) in [row[1:2] for row in reader.query("PRAGMA table_info(outbox)").rows]
    assert reader.query("PRAGMA journal_mode").rows == [("wal",)]


def test_the_till_can_be_read_while_the_agent_holds_it_open(till_file: Path) -> None:
    with TillDb(till_file) as db:
        Outbox(db, till=TILL, store=STORE).append(make_txn(9))
        with TillDbReader(till_file) as reader:
            assert reader.query("SELECT COUNT(*) FROM outbox").rows == [(4,)]


def test_a_missing_file_is_its_own_error(tmp_path: Path) -> None:
    with pytest.raises(DbInspectError) as err:
        TillDbReader(tmp_path / "nowhere.sqlite3")
    assert err.value.reason == "missing" and "nowhere.sqlite3" in str(err.value)
    assert not (tmp_path / "nowhere.sqlite3").exists()


def test_a_file_that_is_not_a_database_is_its_own_error(tmp_path: Path) -> None:
    junk = tmp_path / "till.sqlite3"
    junk.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(DbInspectError) as err:
        TillDbReader(junk)
    assert err.value.reason == "not_a_database"


def test_an_unknown_table_and_bad_sql_are_refused_by_name(reader: TillDbReader) -> None:
    with pytest.raises(DbInspectError) as err:
        reader.rows("sales")
    assert err.value.reason == "no_such_table"
    with pytest.raises(DbInspectError) as err:
        reader.query("SELEKT 1")
    assert err.value.reason == "bad_query"


def _all_text(listing: Any) -> str:
    return json.dumps(listing.rows, default=str)


def test_card_numbers_are_masked_wherever_they_appear(reader: TillDbReader) -> None:
    seen = _all_text(reader.rows("outbox")) + _all_text(reader.rows("quarantine"))
    seen += _all_text(reader.rows("promo_entry", where="section = 'customers'"))
    seen += _all_text(reader.query("SELECT substr(body, 1, 2000) AS text FROM outbox"))
    assert CARD not in seen and OTHER_CARD not in seen
    assert "****3454" in seen and "****7775" in seen
    assert SKU in seen  # a product's EAN-13 is not a card


def test_a_column_named_card_is_masked_whatever_it_holds(reader: TillDbReader) -> None:
    listing = reader.query(f"SELECT '{CARD}' AS card, '12345' AS card_short, 'A-77' AS account, 3 AS cards")
    assert listing.rows == [("****3454", "****", "A-77", 3)]


def test_unmasked_shows_the_card_numbers_whole(till_file: Path) -> None:
    with TillDbReader(till_file, masked=False) as reader:
        assert CARD in _all_text(reader.rows("outbox"))


# -- the commands ---------------------------------------------------------------


def _kopilka(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, list(args), env=env)


def test_db_tables_by_db_path(till_file: Path) -> None:
    result = _kopilka("db", "tables", "--db", str(till_file))
    assert result.exit_code == 0, result.output
    header, rule, *lines = result.output.splitlines()
    assert header.split() == ["table", "kind", "rows", "columns"] and set(rule) == {"-", " "}
    assert any(line.split()[:3] == ["outbox", "table", "3"] for line in lines)


def test_db_rows_by_the_till_config(till_file: Path, tmp_path: Path) -> None:
    config = tmp_path / "till.toml"
    config.write_text(f'[till]\nid = "{TILL}"\nstore = "{STORE}"\nprogram = "kopilka"\n'
                      f'[paths]\ndata_dir = "{till_file.parent}"\n', encoding="utf-8")
    result = _kopilka("db", "rows", "outbox", "--where", "seq = 1", "--format", "json", "--config", str(config))
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["seq"] for r in rows] == [1] and CARD not in result.output and "****3454" in result.output
    from_env = _kopilka("db", "rows", "outbox", "--limit", "2", "--format", "csv", env={"KOPILKA_CONFIG": str(config)})
    assert from_env.exit_code == 0, from_env.output
    assert from_env.output.splitlines()[0].startswith("seq,txn_id,") and len(from_env.output.splitlines()) == 3


def test_db_query_unmasked_as_csv(till_file: Path) -> None:
    sql = "SELECT key FROM promo_entry WHERE section = 'customers'"
    masked = _kopilka("db", "query", sql, "--format", "csv", "--db", str(till_file))
    assert masked.output.splitlines() == ["key", "****3454"]
    whole = _kopilka("db", "query", sql, "--format", "csv", "--unmasked", "--db", str(till_file))
    assert whole.output.splitlines() == ["key", CARD]


def test_db_query_that_writes_says_so_in_one_line(till_file: Path) -> None:
    result = _kopilka("db", "query", "DELETE FROM outbox", "--db", str(till_file))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: read_only: refused: kopilka db only reads the till database (not authorized)"]


def test_db_on_a_missing_file_says_where_it_looked(tmp_path: Path) -> None:
    result = _kopilka("db", "tables", "--db", str(tmp_path / "till.sqlite3"))
    assert result.exit_code == 1 and f"missing: no till database at {tmp_path / 'till.sqlite3'}" in result.output


def test_db_needs_exactly_one_of_config_and_db(till_file: Path, tmp_path: Path) -> None:
    neither = _kopilka("db", "tables", env={"KOPILKA_CONFIG": ""})
    assert neither.exit_code == 2 and "--config" in neither.output and "--db" in neither.output
    config = tmp_path / "till.toml"
    config.write_text("", encoding="utf-8")
    both = _kopilka("db", "tables", "--db", str(till_file), "--config", str(config))
    assert both.exit_code == 2 and "not both" in both.output
