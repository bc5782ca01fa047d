"""``kopilka db …``: store IT reads the till's SQLite database, never writes it.

The reading (read-only, masking) is ``_dbinspect``; this module picks the
file, prints and turns refusals into one line on stderr.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import click

from .cli import _config
from ._dbinspect import Listing, TillDbReader
from ._errors import DbInspectError

FORMATS = ("table", "csv", "json")


def _where(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--config`` or ``--db``, and ``--format``: the options every ``db`` command takes."""
    func = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                        help="How rows are printed.")(func)
    func = click.option("--db", "db_path", type=click.Path(dir_okay=False),
                        help="The till database file itself (instead of --config).")(func)
    func = click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
                        envvar="KOPILKA_CONFIG", help="The till's TOML file (or $KOPILKA_CONFIG).")(func)
    return func


_unmasked = click.option("--unmasked", is_flag=True,
                         help="Show card numbers whole (they are masked to their last 4 digits by default).")


def _open(config_path: str | None, db_path: str | None, *, masked: bool = True) -> TillDbReader:
    if db_path and config_path:
        raise click.UsageError("give --db or --config, not both")
    if not db_path:
        if not config_path:
            raise click.UsageError("which till database? give --config till.toml (or $KOPILKA_CONFIG) or --db PATH")
        db_path = str(_config(config_path).db_path)
    try:
        return TillDbReader(db_path, masked=masked)
    except DbInspectError as exc:
        raise click.ClickException(str(exc)) from exc


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def render(listing: Listing, fmt: str) -> str:
    """``listing`` as an aligned table, CSV with a header, or a JSON array of objects."""
    if fmt == "json":
        rows = [{c: (v.hex() if isinstance(v, bytes) else v) for c, v in zip(listing.columns, row, strict=True)}
                for row in listing.rows]
        return json.dumps(rows, ensure_ascii=False, indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(listing.columns)
        writer.writerows([_text(v) for v in row] for row in listing.rows)
        return out.getvalue().rstrip("\n")
    cells = [list(listing.columns), *([_text(v) for v in row] for row in listing.rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(listing.columns))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _show(reader: TillDbReader, read: Callable[[TillDbReader], Listing], fmt: str) -> None:
    try:
        with reader:
            listing = read(reader)
    except DbInspectError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(render(listing, fmt))


@click.group("db")
def db_group() -> None:
    """Read the till's SQLite database (store IT); it is opened read-only.

    Card numbers are masked unless --unmasked.

    Example: kopilka db tables --config /etc/kopilka/till.toml
    """


@db_group.command("tables")
@_where
def tables_command(config_path: str | None, db_path: str | None, fmt: str) -> None:
    """List the tables and views with their row counts and columns.

    Example: kopilka db tables --db /var/lib/kopilka/till.sqlite3
    """
    def read(reader: TillDbReader) -> Listing:
        return Listing(("table", "kind", "rows", "columns"),
                       [(t.name, t.kind, t.rows, ", ".join(t.columns)) for t in reader.tables()])

    _show(_open(config_path, db_path), read, fmt)


@db_group.command("rows")
@click.argument("table")
@click.option("--where", help="An SQL condition, e.g. \"status = 'pending'\".")
@click.option("--limit", type=click.IntRange(min=0), help="At most this many rows.")
@_unmasked
@_where
def rows_command(table: str, where: str | None, limit: int | None, unmasked: bool,
                 config_path: str | None, db_path: str | None, fmt: str) -> None:
    """Print the rows of one table or view.

    Example: kopilka db rows outbox --where "status = 'pending'" --limit 20 --config till.toml
    """
    _show(_open(config_path, db_path, masked=not unmasked),
          lambda reader: reader.rows(table, where=where, limit=limit), fmt)


@db_group.command("query")
@click.argument("sql")
@_unmasked
@_where
def query_command(sql: str, unmasked: bool, config_path: str | None, db_path: str | None, fmt: str) -> None:
    """Run one read-only SQL statement (anything that would write is refused).

    Example: kopilka db query "SELECT status, COUNT(*) FROM outbox GROUP BY status" --config till.toml
    """
    _show(_open(config_path, db_path, masked=not unmasked), lambda reader: reader.query(sql), fmt)
