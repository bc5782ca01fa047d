"""``run_demo``: the stage, the scenes in order, the report."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable

from . import _report, _scenes
from ._result import DemoResult
from ._stage import Stage


def _introduce(stage: Stage) -> None:
    till, agent = stage.till, stage.agent
    stage.echo("kopilka demo: one till, one short shift; every device simulated, everything else real")
    stage.echo(f"  ledger   {stage.server.url}  (SQLite {stage.workdir / 'ledger.sqlite3'})")
    stage.echo(f"  link     till -> chaos proxy {stage.proxy.url} -> ledger")
    stage.echo(f"  scanner  pty {stage.scanner.path}")
    stage.echo(f"  printer  ESC/POS twin on 127.0.0.1:{stage.printer.port} -> {stage.receipts_dir}")
    stage.echo(f"  till API {agent.api.url}/cashier  (bundle v{till.catalog.version}, "
               f"{len(till.catalog.keys)} token key)")
    stage.echo("")


def run_demo(echo: Callable[[str], None] = print, workdir: Path | None = None) -> DemoResult:
    """Run the scripted shift; ``echo`` gets every line a person should see."""
    started = time.monotonic()
    own_tmp = tempfile.TemporaryDirectory(prefix="kopilka-demo-") if workdir is None else None
    work = Path(own_tmp.name) if own_tmp is not None else workdir
    assert work is not None
    result = DemoResult(work)
    try:
        stage = Stage(work, echo)
        try:
            _introduce(stage)
            receipt = _scenes.anna_online(stage)
            _scenes.boris_offline(stage)
            _scenes.vera_card_offline(stage)
            _scenes.anna_returns_milk(stage, receipt)
            _scenes.gleb_new_card_offline(stage)
            _scenes.link_back(stage)
            _scenes.gleb_confirmed(stage)
            _scenes.gift_certificate(stage)
            _report.show_receipts(stage)
            _report.gather(stage, result)
            _report.show_outbox(stage)
            _report.show_ledger(stage, result)
            _report.show_head_office(stage, result)
            result.seconds = time.monotonic() - started
            echo(f"Done in {result.seconds:.1f} s.")
            return result
        finally:
            stage.close()
    finally:
        if own_tmp is not None:
            own_tmp.cleanup()
