"""``kopilka demo``: the scripted shift as a command (registered by ``cli.py``)."""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import click

from agent import setup_logging

from ._run import run_demo


@click.command("demo")
@click.option("--keep", "keep", type=click.Path(file_okay=False), default=None,
              help="Keep the ledger, till database, receipts and logs in this folder.")
def demo(keep: str | None) -> None:
    """The product in one command: a scripted till shift on simulated hardware.

    A temporary SQLite ledger on 127.0.0.1, a till agent with a pty scanner,
    a phone showing its QR to the camera, an ESC/POS printer twin and a
    network cut between the till and the ledger. Prints the shift, the
    receipts and the sync report; finishes in seconds.

    Example: kopilka demo
    """
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="kopilka-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    root_level = logging.getLogger().level
    handler = setup_logging("INFO", file=str(work / "agent.log"))
    try:
        result = run_demo(click.echo, work)
    except Exception as exc:
        raise click.ClickException(f"demo failed: {exc} (logs in {work / 'agent.log'})") from exc
    finally:
        # the log file goes away with the demo; late records must not fall to stderr
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(root_level)
        handler.close()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    if keep:
        click.echo(f"Kept in {work}: ledger.sqlite3, till/ (the till database), receipts/ (text + PNG), "
                   "report-loyalty.html (open it in a browser), agent.log")
    if not result.journal_ok:
        raise click.ClickException("the ledger's journal does not match its balances")
