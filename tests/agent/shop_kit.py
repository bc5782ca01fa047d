"""A whole shop for end-to-end tests: a real ledger behind a chaos proxy, the
pty scanner and ESC/POS printer twins, and a running agent (``shop`` fixture)."""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx

from agent import Agent, ApiServer, Runtime, parse_config
from hardware_sim.demo import BUNDLE, MEMBERS, first_pull


class CameraDrivenRuntime(Runtime):
    """The real runtime; the test shows the phone to the camera frame by frame."""

    def camera(self, config: Any, on_scan: Any) -> Any:
        return None


def wait(cond: Any, what: str, agent: Agent, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        agent.tick(time.time())
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


@contextmanager
def open_shop(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A ledger behind a chaos proxy, the scanner and printer twins, and a running agent."""
    from hardware_sim import ChaosProxy, ScannerTwin
    from hardware_sim._printer import PrinterTwin
    from sync.ledger import Ledger, add_key, make_app

    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    key = ledger.add_till("KY-001", "KY-001-01")
    ledger.import_bundle(BUNDLE.read_text(encoding="utf-8"))
    ledger.import_members("\n".join(json.dumps(m) for m in MEMBERS))
    server = ApiServer(make_app(ledger), "127.0.0.1", 0).start()
    proxy = ChaosProxy(("127.0.0.1", server.port), delay_s=2.5).start()
    printer = PrinterTwin(port=0, render_png=False).start()
    scanner = ScannerTwin().open()
    cfg = parse_config({
        "till": {"id": "KY-001-01", "store": "KY-001", "program": "kopilka"},
        "paths": {"data_dir": "till"},
        # a generous budget: a loaded CI machine must not turn "pass" into offline
        "ledger": {"url": proxy.url, "key": key, "hold_budget_ms": 1000, "sync_interval_s": 0.2},
        "api": {"port": 0}, "scanner": {"device": scanner.path},
        "printer": {"url": f"tcp://127.0.0.1:{printer.port}"},
    }, tmp_path)
    (tmp_path / "till").mkdir()
    first_pull(cfg, key, proxy.url)
    agent = Agent(cfg, CameraDrivenRuntime(), pull_every_s=3600).start()
    app_key = add_key(ledger, "app", "phone")  # tokens come from the app's back end, not a till
    phone = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {app_key}"}, timeout=5)
    try:
        yield {"ledger": ledger, "proxy": proxy, "printer": printer, "scanner": scanner, "agent": agent,
               "phone": phone}
    finally:
        phone.close()
        agent.stop()
        scanner.close()
        printer.stop()
        proxy.close()
        server.stop()
        ledger.close()
