"""Storage: recorded migrations, URL handling, per-transaction savepoints."""
from __future__ import annotations

import pytest

from sync.ledger import MIGRATIONS, Conflict, Ledger, StorageError, migrate, open_storage


def test_migrations_are_recorded_and_applied_once(db_url: str) -> None:
    with open_storage(db_url) as st:
        assert migrate(st) == [n for n, _, _ in MIGRATIONS]
        assert migrate(st) == []
        with st.transaction() as tx:
            rows = tx.all("SELECT version, name FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows] == [n for n, _, _ in MIGRATIONS]


def test_a_database_newer_than_the_code_is_refused(db_url: str) -> None:
    with open_storage(db_url) as st:
        migrate(st)
        with st.transaction() as tx:
            tx.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'x')")
        with pytest.raises(StorageError) as err:
            migrate(st)
    assert err.value.reason == "schema_too_new"


def test_a_failed_savepoint_is_undone_alone(db_url: str) -> None:
    with Ledger(db_url) as led:
        with led.storage.transaction() as tx:
            tx.execute("INSERT INTO meta (key, value) VALUES ('a', '1')")
            with pytest.raises(Conflict):
                with tx.savepoint():
                    tx.execute("INSERT INTO meta (key, value) VALUES ('b', '1')")
                    tx.execute("INSERT INTO meta (key, value) VALUES ('a', '2')")
        with led.storage.transaction() as tx:
            assert tx.all("SELECT key FROM meta WHERE key IN ('a', 'b')") == [("a",)]


@pytest.mark.parametrize("url", ["mysql://x", "sqlite:///", "sqlite:///no/such/dir/l.db"])
def test_an_unusable_url_is_refused(url: str) -> None:
    with pytest.raises(StorageError):
        open_storage(url)


@pytest.mark.postgres
def test_an_unreachable_postgresql_is_a_storage_error() -> None:
    with pytest.raises(StorageError):
        open_storage("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2")
