"""Migration 4: sale bodies compressed with lz4 on PostgreSQL (a no-op on SQLite)."""
from __future__ import annotations

from sync.ledger import Ledger


def test_sale_bodies_use_lz4_on_postgresql_and_the_migration_is_recorded_everywhere(
        ledger: Ledger) -> None:
    with ledger.storage.transaction() as tx:
        assert tx.one("SELECT 1 FROM schema_migrations WHERE version = 4") == (1,)
        if ledger.storage.kind == "postgresql":
            row = tx.one("SELECT attcompression FROM pg_attribute WHERE attrelid = "
                         "'sales'::regclass AND attname = 'body'")
            assert row == ("l",)
