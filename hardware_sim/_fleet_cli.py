"""``kopilka sim fleet``: a chain's tills selling through a running ledger."""
from __future__ import annotations

import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ._fleet import run_fleet
from ._fleet_plan import DAY_S, FleetConfig


@click.command()
@click.option("--ledger", "ledger_url", required=True,
              help="URL of a running `kopilka ledger serve` (http://127.0.0.1:8400)")
@click.option("--db", "db_url", required=True, envvar="KOPILKA_LEDGER_DB",
              help="the same ledger's database, where the fleet registers its tills and members "
                   "(env KOPILKA_LEDGER_DB)")
@click.option("--stores", type=click.IntRange(1), default=5, show_default=True)
@click.option("--tills", type=click.IntRange(1), default=2, show_default=True,
              help="tills per store")
@click.option("--days", type=click.IntRange(1), default=1, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True,
              help="the same seed sells the same baskets, customers and offline windows")
@click.option("--sales-per-day", type=click.IntRange(1), default=200, show_default=True,
              help="per till (08:00-22:00, with morning and evening peaks)")
@click.option("--offline-share", type=click.FloatRange(0, 1), default=0.3, show_default=True,
              help="share of till-days with one offline window (30 min to 3 h)")
@click.option("--compress", type=click.FloatRange(min=0, min_open=True), default=3600.0,
              show_default=True, help="simulated seconds per real second")
@click.option("--chains", type=click.IntRange(1), default=1, show_default=True,
              help="stores are dealt to this many chains of one programme")
@click.option("--members", type=click.IntRange(1), default=None,
              help="member cards (default 40 per store)")
@click.option("--bundle", "bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="bundle to sell with (default examples/bundle.json); the "
                                 "fleet's stores are added to it")
@click.option("--prefix", default="FL", show_default=True,
              help="store, till and account ids start with it (a second fleet on the same "
                   "ledger needs another)")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="first simulated day (default: DAYS days before today)")
@click.option("--work", "work_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="folder for the tills' SQLite databases (default: a new "
                                 "temporary folder, kept)")
@click.option("--upload-threads", type=click.IntRange(1), default=8, show_default=True,
              help="upload threads shared by the tills")
@click.option("--batch-size", type=click.IntRange(1), default=500, show_default=True)
@click.option("--backlog", is_flag=True,
              help="every till sells offline, then all reconnect at once (a backlog drain)")
def fleet(ledger_url: str, db_url: str, stores: int, tills: int, days: int, seed: int,
          sales_per_day: int, offline_share: float, compress: float, chains: int,
          members: int | None, bundle: Path | None, prefix: str, start: datetime | None,
          work_dir: Path | None, upload_threads: int, batch_size: int, backlog: bool) -> None:
    """Run STORES x TILLS lightweight tills selling through a running ledger.

    The fleet registers its tills, members, an app key and its bundle in the
    ledger database --db with the ledger's own operations, then sells
    through --ledger in compressed time: real baskets priced by the engine,
    customers by QR token or card, online holds, redemptions, returns, tills
    going offline on a schedule and catching up. Ends when every till has
    drained its outbox, with a summary.

    Example: kopilka sim fleet --ledger http://127.0.0.1:8400 --db sqlite:///ledger.db --stores 5 --tills 2 --days 2
    """
    logging.basicConfig(level=logging.WARNING)
    cfg = FleetConfig(stores=stores, tills=tills, days=days, seed=seed,
                      sales_per_day=sales_per_day, offline_share=offline_share,
                      compress=compress, chains=chains, members=members, prefix=prefix,
                      start=start.date() if start else None, bundle=bundle,
                      backlog=backlog)
    state: dict[str, Any] = {"bar": None, "done": 0}

    def progress(done: float, total: float, sales: int) -> None:
        bar = state["bar"]
        if bar is None:
            return
        step = int(done) - state["done"]
        state["sales"] = sales
        if step > 0:
            bar.update(step)
            state["done"] += step

    def show(_item: Any) -> str:
        return f"{state.get('sales', 0):,} sales"

    bar: Any
    with click.progressbar(length=int(days * DAY_S), label="selling (simulated time)",
                           item_show_func=show, file=sys.stderr) as bar:
        state["bar"] = bar
        try:
            result = run_fleet(ledger_url, db_url, cfg, work_dir=work_dir, progress=progress,
                               upload_threads=upload_threads, batch_size=batch_size)
        except Exception as exc:
            from sync.ledger import LedgerError

            if isinstance(exc, (LedgerError, ValueError)):
                raise click.ClickException(str(exc)) from exc
            raise
    click.echo(result.table(), nl=False)
    if not result.drained:
        raise click.ClickException(f"{result.pending} transactions still queued at the end")
