"""``kopilka till …``: store-IT commands of the till side of sync.

Only this module prints; the library modules log.
"""
from __future__ import annotations

from typing import Any

import click

from ._errors import cli_error


@click.group("till")
def till_group() -> None:
    """Till-side sync repairs (store IT).

    Example: kopilka till re-enrol --config till.toml
    """


def _config(config_path: str) -> Any:
    from agent import ConfigError, load_config

    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(f"config: {exc}") from exc


@till_group.command("re-enrol")
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
              envvar="KOPILKA_CONFIG", help="The till's TOML file (or $KOPILKA_CONFIG).")
def re_enrol_command(config_path: str) -> None:
    """Recover a till whose data was wiped: continue its seqs after the ledger's.

    Run it with the agent stopped, when the uploader reports seq_conflict.
    It first sends every queued sale; sales the ledger refused as
    seq_conflict (it holds those seqs from the till's earlier life) move to
    fresh seqs after the ledger's highest one and are sent again. Nothing the
    ledger accepted moves. It refuses, changing nothing, while the agent runs
    or while a sale cannot be delivered (ledger unreachable).

    Example: kopilka till re-enrol --config /etc/kopilka/till.toml
    """
    from . import Outbox, SyncError, TillDb
    from ._enrol import re_enrol

    cfg = _config(config_path)
    if not cfg.ledger_url or not cfg.ledger_key:
        raise click.ClickException("config: [ledger] url and key are needed to re-enrol")
    if not cfg.db_path.exists():
        raise click.ClickException(f"no till database at {cfg.db_path}: start the agent once first")
    db = TillDb(cfg.db_path)
    try:
        outbox = Outbox(db, till=cfg.till, store=cfg.store)
        report = re_enrol(outbox, base_url=cfg.ledger_url, key=cfg.ledger_key)
    except SyncError as exc:
        raise cli_error(exc, "re-enrol") from exc
    finally:
        db.close()
    m, a = report.moved, report.after
    click.echo(f"ledger holds seqs of {cfg.till} up to {m.base_seq} "
               f"(contiguous to {report.ledger.get('high_water')})")
    click.echo(f"moved {m.moved} sales after it ({m.requeued} offered again); next seq {m.next_seq}")
    click.echo(f"sent {a.sent}: {a.accepted} accepted, {a.duplicate} duplicate, "
               f"{a.rejected} rejected; {a.remaining} left")
    if a.error:
        raise click.ClickException(f"re-enrolled, but sending stopped: {a.error} (the agent will "
                                   "send the rest)")
