"""The cashier page in headless Chromium against a real agent on simulated
hardware (pty scanner, ESC/POS printer twin): basket, customer, one-tap
points, plain-words errors, payment."""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from agent_kit import Signer

from agent import Agent, parse_config
from agent._receipt import parse_printed
from hardware_sim import ScannerTwin
from hardware_sim._printer import PrinterTwin

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MILK, CHEESE, COFFEE = "4607000000014", "4607000000038", "4607000000090"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium")


@pytest.fixture
def running_agent(tmp_path: Path, bundle_doc: dict[str, Any]) -> Iterator[tuple[Agent, ScannerTwin, PrinterTwin]]:
    (tmp_path / "bundle.json").write_text(json.dumps(bundle_doc), encoding="utf-8")
    printer = PrinterTwin(port=0, render_png=False).start()
    scanner = ScannerTwin().open()
    cfg = parse_config({
        "till": {"id": "KY-001-01", "store": "KY-001", "program": "kopilka"},
        "paths": {"data_dir": "till", "bundle": "bundle.json"},
        "api": {"port": 0}, "scanner": {"device": scanner.path},
        "printer": {"url": f"tcp://127.0.0.1:{printer.port}"},
    }, tmp_path)
    agent = Agent(cfg)
    loop = threading.Thread(target=agent.run, name="agent-loop")  # start() + loop, off the main thread
    loop.start()
    deadline = time.monotonic() + 20
    while agent.api is None and loop.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert agent.api is not None, "agent did not start"
    try:
        yield agent, scanner, printer
    finally:
        agent.inbox.put(("signal", "stop"))
        loop.join(20)
        scanner.close()
        printer.stop()


def test_cashier_page_sells_with_one_tap_points_and_plain_errors(running_agent, signer: Signer, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    agent, scanner, printer = running_agent
    url = agent.api.url + "/cashier"
    now = int(time.time())  # tokens must be valid on the real clock the agent runs with
    token = signer.token(iat=now, exp=now + 300, bal=800, cap=300, jti=f"page-{now}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(url)
            expect(page.locator("#till")).to_contain_text("KY-001-01")
            # goods through the real pty scanner appear through the event stream
            scanner.scan(MILK)
            scanner.scan(CHEESE)
            scanner.scan(COFFEE)
            expect(page.locator("#basket tbody tr")).to_have_count(3, timeout=10_000)
            expect(page.locator("#basket")).to_contain_text("Молоко")
            # a bad code: plain words, nothing changes
            page.fill("#code", "not-a-code")
            page.press("#code", "Enter")
            expect(page.locator("#error")).to_contain_text("not a loyalty card", timeout=10_000)
            expect(page.locator("#basket tbody tr")).to_have_count(3)
            # an expired app code: its own words
            page.fill("#code", signer.token(iat=now - 1000, exp=now - 400, jti="old"))
            page.press("#code", "Enter")
            expect(page.locator("#error")).to_contain_text("expired", timeout=10_000)
            # the customer's app code
            page.fill("#code", token)
            page.press("#code", "Enter")
            expect(page.locator("#customer")).to_be_visible(timeout=10_000)
            expect(page.locator("#c-tier")).to_have_text("silver")
            expect(page.locator("#c-balance")).to_contain_text("800")
            expect(page.locator("#error")).to_be_hidden()
            spend = page.locator("#spend")
            expect(spend).to_be_visible()
            expect(spend).to_contain_text("Spend 300 points")
            spend.click()
            expect(page.locator("#t-redeemed")).to_contain_text("300 pts")
            page.screenshot(path=str(tmp_path / "cashier.png"), full_page=True)
            shot = os.environ.get("KOPILKA_SCREENSHOT")
            if shot:
                page.screenshot(path=shot, full_page=True)
            page.click("#pay-card")
            expect(page.locator("#receipt")).to_contain_text("KY-001-01/1", timeout=10_000)
        finally:
            browser.close()
    assert printer.wait_for_receipts(1, timeout=10)
    got = parse_printed(printer.receipts[0].text)
    assert got["receipt_id"] == "KY-001-01/1" and got["totals"]["points_spent"] == 300
    assert [ln["qty"] for ln in got["lines"]] == ["1", "1", "1"]
    [row] = agent.till.outbox.rows() if agent.till and agent.db else _rows(tmp_path)
    assert row.txn["result"]["totals"]["redeemed_points"] == 300


def _rows(tmp_path: Path) -> list[Any]:
    from sync import Outbox, TillDb

    db = TillDb(tmp_path / "till" / "till.sqlite3")
    try:
        return Outbox(db, till="KY-001-01", store="KY-001").rows()
    finally:
        db.close()
