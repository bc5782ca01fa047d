"""The head-office HTML page in headless Chromium: charts drawn, no error, no request.

The page is written by ``kopilka report loyalty --format html`` from a
coalition's week, loaded into Chromium with every request routed: anything
but a ``data:`` URL fails the test. A screenshot is kept in the test's tmp
path and in ``test-artifacts/`` (gitignored).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sync.ledger import Ledger
from sync.ledger.cli import report as report_group

from .conftest import FakeClock
from .helpers import MEMBERS_CSV, ROOT, ASGIClient
from .reportdata import DAYS, Week, coalition_bundle

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CHARTS = ("lag per store", "backlog per store", "points per day", "points per store",
          "points outstanding", "top promotions by discount", "top promotions by points",
          "offline share", "audit corrections")

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium")


def test_the_page_draws_every_chart_offline_without_errors(
        ledger: Ledger, client: ASGIClient, clock: FakeClock, db_url: str,
        tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    ledger.import_bundle(coalition_bundle())
    ledger.import_members(MEMBERS_CSV)
    week = Week(ledger, client)
    week.run(clock)
    bad = week.tills["KY-001"][0].sale("A-77")  # one audit correction to draw
    bad["result"]["totals"]["points"] += 9
    till = week.tills["KY-001"][0]
    till.prev = bad["prev_hash"]
    week.upload(till, [till._chain(bad)])
    out = tmp_path / "week.html"
    run = CliRunner().invoke(report_group, ["loyalty", "--db", db_url, "--from", DAYS[0],
                                            "--to", "2026-11-22", "--format", "html",
                                            "-o", str(out)])
    assert run.exit_code == 0, run.output
    html = out.read_text(encoding="utf-8")

    requests: list[str] = []
    problems: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("data:"):
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", route)
            page.on("request", lambda r: None if r.url.startswith("data:")
                    else requests.append(r.url))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.set_content(html, wait_until="load")
            charts = page.eval_on_selector_all("svg.chart", """els => els.map(e => ({
                label: e.getAttribute('aria-label'), kind: e.dataset.chart,
                width: e.getBoundingClientRect().width, height: e.getBoundingClientRect().height,
                marks: [...e.querySelectorAll('[data-value]')].map(m => Number(m.dataset.value)),
                drawn: [...e.querySelectorAll('rect.bar, polyline.series')].filter(
                    m => { const b = m.getBBox(); return b.width > 0 || b.height > 0 }).length
            }))""")
            page.screenshot(path=str(tmp_path / "reports.png"), full_page=True)
            keep = ROOT / "test-artifacts"
            keep.mkdir(exist_ok=True)
            page.screenshot(path=str(keep / "reports-page.png"), full_page=True)
        finally:
            browser.close()
    assert requests == [] and problems == []
    by_label = {c["label"]: c for c in charts}
    assert set(CHARTS) <= set(by_label), sorted(by_label)
    for name in CHARTS:
        chart = by_label[name]
        assert chart["kind"] != "empty" and chart["width"] > 300 and chart["height"] > 20, chart
        assert chart["drawn"] > 0 and any(chart["marks"]), name
    assert max(by_label["backlog per store"]["marks"]) == 6  # KY-002-02, two days offline
    assert min(by_label["audit corrections"]["marks"]) == -9
    assert (tmp_path / "reports.png").stat().st_size > 10_000
