"""``kopilka report sync|loyalty|settlement`` and ``kopilka ledger rollup``.

``install`` registers them on the ``report`` and ``ledger`` groups of
``_cli`` (its last lines), with that module's ``--db`` option and error
handling. Each report takes the same scope options and writes to stdout, or
to ``--output`` (the HTML page is meant to be saved and opened).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import _allflags, _reports, _rollup
from ._ledger import Ledger


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _scope_options(db_option: Decorator, fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        db_option,
        click.option("--from", "first", default=None, metavar="YYYY-MM-DD",
                     help="first day (default: 6 days before --to)"),
        click.option("--to", "last", default=None, metavar="YYYY-MM-DD",
                     help="last day (default: today, UTC)"),
        click.option("--store", "stores", multiple=True, help="only this store (repeatable)"),
        click.option("--chain", "chains", multiple=True,
                     help="only the stores of this chain (repeatable; bundle stores[].chain)"),
        click.option("--format", "fmt", type=click.Choice(_reports.FORMATS), default="table",
                     show_default=True),
        click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
                     default=None, help="write to this file instead of stdout"),
    ]):
        fn = option(fn)
    return fn


def _run(db_url: str, kind: str, fmt: str, out: Path | None, ask: _reports.Ask) -> None:
    with Ledger(db_url) as led:
        led.audit_pending()  # sales the server has not re-priced yet count too
        text = _reports.report_text(led.storage, led.clock(), kind, fmt, ask)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


def install(report: click.Group, ledger: click.Group, db_option: Decorator,
            _errors: Decorator) -> None:
    """Add ``sync``, ``loyalty`` and ``settlement`` to ``report``, ``rollup`` to ``ledger``."""
    def scope_options(fn: Callable[..., Any]) -> Callable[..., Any]:
        return _scope_options(db_option, fn)

    @click.command("sync")
    @scope_options
    @click.option("--silent-hours", type=click.FloatRange(0), default=_allflags.SILENT_HOURS,
                  show_default=True, help="flag a till not heard from for longer")
    @click.option("--skew-s", type=click.IntRange(0), default=_allflags.SKEW_S, show_default=True,
                  help="flag a till whose clock is further than this from the ledger's")
    @_errors
    def report_sync(db_url: str, first: str | None, last: str | None, stores: tuple[str, ...],
                    chains: tuple[str, ...], fmt: str, output: Path | None, silent_hours: float,
                    skew_s: int) -> None:
        """Sync health per store and till, lag and backlog per day, and every flag.

        Sales not yet re-priced by the server's audit worker are audited first,
        so the audit mismatch counts are complete. Flags (each with its store,
        till, account and transactions): a token jti used at two tills, accounts
        offline redemption drove below zero (by how much, against the bound
        cap x tills), audit mismatches with both figures, seq gaps and
        conflicts, rejected transactions, silent tills, skewed till clocks.
        CSV: the tills, the flags, then lag and backlog, separated by empty lines.

        Example: kopilka report sync --db sqlite:///ledger.db --from 2026-11-16 --to 2026-11-22
        """
        _run(db_url, "sync", fmt, output,
             _reports.Ask(first, last, stores, chains, silent_hours, skew_s))


    @click.command("loyalty")
    @scope_options
    @_errors
    def report_loyalty(db_url: str, first: str | None, last: str | None, stores: tuple[str, ...],
                       chains: tuple[str, ...], fmt: str, output: Path | None) -> None:
        """Points accrued and redeemed per day and store, promotions, liability, offline share.

        --format html writes the whole head-office page (one self-contained
        file with charts): sync, flags, loyalty and chain settlement.

        Example: kopilka report loyalty --db sqlite:///ledger.db --chain krasyar --format html -o week.html
        """
        _run(db_url, "loyalty", fmt, output, _reports.Ask(first, last, stores, chains))


    @click.command("settlement")
    @scope_options
    @_errors
    def report_settlement(db_url: str, first: str | None, last: str | None,
                          stores: tuple[str, ...], chains: tuple[str, ...], fmt: str,
                          output: Path | None) -> None:
        """What each chain of a shared programme owes another for the period.

        Points spent in chain B are shared among the chains that earned points
        in the period, in proportion to what each earned (docs/reports.md).

        Example: kopilka report settlement --db sqlite:///ledger.db --from 2026-11-01 --to 2026-11-30 --format csv
        """
        _run(db_url, "settlement", fmt, output, _reports.Ask(first, last, stores, chains))


    @click.command("rollup")
    @db_option
    @click.option("--margin-s", type=click.FloatRange(0), default=_rollup.MARGIN_S,
                  show_default=True, help="leave what arrived in the last seconds to the next run")
    @_errors
    def rollup(db_url: str, margin_s: float) -> None:
        """Fold new sales and journal entries into the daily report rollups.

        Incremental (a watermark), safe to run from cron every few minutes and
        from two hosts at once. Reports read the rollups plus whatever arrived
        after the watermark, so they are current either way; the job keeps
        them fast.

        Example: kopilka ledger rollup --db postgresql://postgres@127.0.0.1:5432/kopilka
        """
        with Ledger(db_url) as led:
            after, upto = _rollup.refresh(led.storage, led.clock(), margin_s)
        click.echo(f"rolled up {after or 'the beginning'} .. {upto}")

    for command in (report_sync, report_loyalty, report_settlement):
        report.add_command(command)
    ledger.add_command(rollup)
