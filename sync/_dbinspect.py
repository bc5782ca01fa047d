"""The till database as store IT reads it (``kopilka db``), never changing it.

Why read-only three times over: the file is the till's book of record
until the ledger acknowledges its sales (see ``_tilldb``), and IT looks at
it while the agent runs. The file is opened with SQLite's ``mode=ro``; an
authorizer lets a statement only read tables and call functions (so
``ATTACH`` or ``VACUUM INTO`` cannot even create another file); whatever is
refused is a ``DbInspectError("read_only")``. (SQLite may leave its empty
``-wal``/``-shm`` companions beside a WAL database it opened read-only; the
database itself is untouched.) sqlite-utils lists the tables and pages
their rows, as the design card wants.

Card numbers are masked as on receipts unless the caller asks otherwise:
every value of a column named ``card`` (or ``card_…``, ``…_card``), and
every 13-digit number (alone or inside text such as a sale's JSON) whose
prefix is one of the program's card prefixes (till.md §1: exactly the codes
the till routes as cards).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastcore
from fastcore import mask_card

from ._errors import DbInspectError


@dataclass(frozen=True)
class TableInfo:
    """One table or view: its name, kind, row count and column names."""

    name: str
    kind: str
    rows: int
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Listing:
    """Rows as read: the column names and one tuple per row."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


# What a statement may do (sqlite3 authorizer action codes): read and compute.
_READS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
# Pragmas that only describe: those taking a table or index name, and those
# that read a setting when given no value (``PRAGMA journal_mode = delete`` acts).
_PRAGMAS_ON_A_NAME = {
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "quick_check", "integrity_check",
}
_PRAGMAS_READ = {
    "user_version", "schema_version", "application_id", "page_count", "page_size", "freelist_count",
    "journal_mode", "encoding", "compile_options", "database_list", "collation_list", "function_list",
}
_REFUSED = ("not authorized", "authorization denied", "readonly", "read-only", "attempt to write")
_THIRTEEN = re.compile(r"(?<![0-9A-Za-z])[0-9]{13}(?![0-9A-Za-z])")


def _authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None) -> int:
    if action in _READS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg1 is not None:
        name = arg1.lower()
        if name in _PRAGMAS_ON_A_NAME or (name in _PRAGMAS_READ and arg2 is None):
            return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


class CardMask:
    """Masks the card numbers in values read from the till database."""

    def __init__(self, card_prefixes: tuple[str, ...]) -> None:
        self.card_prefixes = card_prefixes

    def value(self, column: str, value: Any) -> Any:
        """``value`` of ``column`` with every card number in it masked."""
        if value is None or isinstance(value, (bytes, float)):
            return value
        if "card" in column.lower().split("_"):
            return mask_card(str(value))
        text = str(value)
        masked = _THIRTEEN.sub(lambda m: mask_card(m[0]) if m[0][:2] in self.card_prefixes else m[0], text)
        return value if masked == text else masked


def _default_card_prefixes() -> tuple[str, ...]:
    """The engine's own default (``fastcore.Program.card_prefixes``): one home for it."""
    default: Any = {f.name: f for f in dataclasses.fields(fastcore.Program)}["card_prefixes"].default
    return tuple(str(p) for p in default)


class TillDbReader:
    """A till database opened read-only, for store IT's questions."""

    def __init__(self, path: str | os.PathLike[str], *, masked: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise DbInspectError("missing", f"no till database at {self.path}")
        if not self.path.is_file():
            raise DbInspectError("missing", f"{self.path} is not a file")
        # Imported here: sqlite-utils imports numpy when it is installed,
        # which a till's sale path never needs (issue 5).
        import sqlite_utils

        conn = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True)
        self._db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
        try:
            prefixes = self._card_prefixes()
        except DbInspectError:
            conn.close()
            raise
        conn.set_authorizer(_authorize)
        self.mask = CardMask(prefixes) if masked else None

    def close(self) -> None:
        self._db.conn.close()

    def __enter__(self) -> TillDbReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, sql: str) -> sqlite3.Cursor:
        try:
            cursor: sqlite3.Cursor = self._db.execute(sql)
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        return cursor

    def _translate(self, exc: sqlite3.Error) -> DbInspectError:
        text = str(exc)
        if any(word in text.lower() for word in _REFUSED):
            return DbInspectError("read_only", f"refused: kopilka db only reads the till database ({text})")
        if "file is not a database" in text or isinstance(exc, sqlite3.DatabaseError) and "malformed" in text:
            return DbInspectError("not_a_database", f"{self.path}: {text}")
        return DbInspectError("bad_query", text)

    def _card_prefixes(self) -> tuple[str, ...]:
        """The stored program's card prefixes, or the engine's default ones."""
        if "promo_bundle" in self._names("table"):
            row = self._run("SELECT body FROM promo_bundle WHERE id = 1").fetchone()
            try:
                prefixes = json.loads(row[0])["program"]["card_prefixes"] if row is not None else None
            except (ValueError, TypeError, KeyError):
                prefixes = None  # no readable program: the engine's default is the best guess
            if prefixes:
                return tuple(str(p) for p in prefixes)
        return _default_card_prefixes()

    def _names(self, kind: str) -> list[str]:
        try:
            names: list[str] = self._db.table_names() if kind == "table" else self._db.view_names()
            return names
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    def tables(self) -> list[TableInfo]:
        """Every table and view, by name, with its row count and columns."""
        out = []
        try:
            for kind, items in (("table", self._db.tables), ("view", self._db.views)):
                out += [TableInfo(t.name, kind, t.count, tuple(c.name for c in t.columns)) for t in items]
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        return sorted(out, key=lambda t: t.name)

    def rows(self, table: str, *, where: str | None = None, limit: int | None = None) -> Listing:
        """The rows of ``table`` (or view), filtered by an SQL ``where`` clause, at most ``limit``."""
        if table not in self._names("table") + self._names("view"):
            raise DbInspectError("no_such_table", f"no table or view named {table!r} (see: kopilka db tables)")
        if limit is not None and limit < 0:
            raise DbInspectError("bad_query", f"limit must be 0 or more, not {limit}")
        try:
            found = list(self._db.table(table).rows_where(where=where, limit=limit))
            columns = tuple(found[0]) if found else tuple(c.name for c in self._db.table(table).columns)
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        return self._listing(columns, [tuple(r.values()) for r in found])

    def query(self, sql: str) -> Listing:
        """The result of one read-only SQL statement."""
        cursor = self._run(sql)
        try:
            rows = cursor.fetchall()
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        columns = tuple(d[0] for d in cursor.description or ())
        return self._listing(columns, rows)

    def _listing(self, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> Listing:
        mask = self.mask
        if mask is not None:
            rows = [tuple(mask.value(c, v) for c, v in zip(columns, row, strict=True)) for row in rows]
        return Listing(columns, rows)
