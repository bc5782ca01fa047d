"""The cashier page in headless Chromium against a real agent on simulated
hardware (pty scanner, ESC/POS printer twin): a Russian sale with points
chosen by amount, refusals in plain words; hostile strings shown as text;
a page from another origin cannot drive the till."""
from __future__ import annotations

import copy
import http.server
import json
import logging
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx
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
EVIL = '<img src=x onerror="window.__pwned=1;fetch(\'/v1/sessions\',{method:\'POST\'})">'

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium")


def start_agent(tmp_path: Path, bundle: dict[str, Any], language: str = "ru",
                **sections: Any) -> tuple[Agent, threading.Thread]:
    (tmp_path / "bundle.json").write_text(json.dumps(bundle), encoding="utf-8")
    cfg = parse_config({
        "till": {"id": "KY-001-01", "store": "KY-001", "program": "kopilka", "language": language},
        "paths": {"data_dir": "till", "bundle": "bundle.json"},
        "api": {"port": 0}, **sections,
    }, tmp_path)
    agent = Agent(cfg)
    loop = threading.Thread(target=agent.run, name="agent-loop")  # start() + loop, off the main thread
    loop.start()
    deadline = time.monotonic() + 20
    while agent.api is None and loop.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert agent.api is not None, "agent did not start"
    return agent, loop


def stop_agent(agent: Agent, loop: threading.Thread) -> None:
    agent.inbox.put(("signal", "stop"))
    loop.join(20)


@pytest.fixture
def running_agent(tmp_path: Path, bundle_doc: dict[str, Any]) -> Iterator[tuple[Agent, ScannerTwin, PrinterTwin]]:
    printer = PrinterTwin(port=0, render_png=False).start()
    scanner = ScannerTwin().open()
    agent, loop = start_agent(tmp_path, bundle_doc, scanner={"device": scanner.path},
                              printer={"url": f"tcp://127.0.0.1:{printer.port}"})
    try:
        yield agent, scanner, printer
    finally:
        stop_agent(agent, loop)
        scanner.close()
        printer.stop()


def rename_item(bundle: dict[str, Any], sku: str, name: str) -> None:
    for item in bundle["catalog"]:
        if item["sku"] == sku:
            item["name"] = name


@contextmanager
def cashier_page(agent: Agent) -> Iterator[Any]:
    """The agent's cashier page open in headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser, page = browser_page(pw)
        try:
            page.goto(agent.api.url + "/cashier")
            yield page
        finally:
            browser.close()


def browser_page(pw: Any) -> tuple[Any, Any]:
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    return browser, browser.new_page(viewport={"width": 1280, "height": 900})


@contextmanager
def another_site(page_html: bytes) -> Iterator[str]:
    """A web page served from another origin (another port on 127.0.0.1); yields its URL."""

    class Site(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page_html)))
            self.end_headers()
            self.wfile.write(page_html)

        def log_message(self, *args: Any) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}/"
    finally:
        site.shutdown()
        site.server_close()


def test_cashier_page_sells_in_russian_with_points_by_amount_and_plain_errors(
        running_agent, signer: Signer, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    agent, scanner, printer = running_agent
    now = int(time.time())  # tokens must be valid on the real clock the agent runs with
    token = signer.token(iat=now, exp=now + 300, bal=800, cap=300, jti=f"page-{now}")
    with sync_playwright() as pw:
        browser, page = browser_page(pw)
        try:
            page.goto(agent.api.url + "/cashier")
            expect(page.locator("#till")).to_contain_text("KY-001-01")
            expect(page.locator("h2").first).to_contain_text("Корзина")
            expect(page.locator("#link")).to_contain_text("не настроен")
            # goods through the real pty scanner appear through the event stream
            scanner.scan(MILK)
            scanner.scan(CHEESE)
            scanner.scan(COFFEE)
            expect(page.locator("#basket tbody tr")).to_have_count(3, timeout=10_000)
            expect(page.locator("#basket")).to_contain_text("Молоко")
            # a bad code: the reason in Russian, nothing changes
            page.fill("#code", "not-a-code")
            page.press("#code", "Enter")
            expect(page.locator("#error")).to_contain_text("Код не распознан", timeout=10_000)
            expect(page.locator("#basket tbody tr")).to_have_count(3)
            expect(page.locator("#log")).to_contain_text("not-a-code")
            # an expired app code: its own words
            page.fill("#code", signer.token(iat=now - 1000, exp=now - 400, jti="old"))
            page.press("#code", "Enter")
            expect(page.locator("#error")).to_contain_text("устарел", timeout=10_000)
            # the customer's app code: tier, balance, what can be spent
            page.fill("#code", token)
            page.press("#code", "Enter")
            expect(page.locator("#customer")).to_be_visible(timeout=10_000)
            expect(page.locator("#c-tier")).to_have_text("silver")
            expect(page.locator("#c-balance")).to_contain_text("800")
            expect(page.locator("#c-available")).to_contain_text("300")
            expect(page.locator("#c-mode")).to_contain_text("офлайн")
            expect(page.locator("#error")).to_be_hidden()
            expect(page.locator("#spend-max")).to_contain_text("Максимум: 300")
            # an amount above the max: a clear message, nothing spent
            page.fill("#points", "301")
            page.click("#spend-amount")
            expect(page.locator("#error")).to_contain_text("не больше 300")
            expect(page.locator("#t-redeemed")).to_have_text("0.00")
            page.fill("#points", "abc")
            page.click("#spend-amount")
            expect(page.locator("#error")).to_contain_text("целое число")
            # a chosen amount
            page.fill("#points", "120")
            page.click("#spend-amount")
            expect(page.locator("#t-redeemed")).to_contain_text("120 балл.")
            expect(page.locator("#error")).to_be_hidden()
            # none, then max
            page.click("#nospend")
            expect(page.locator("#t-redeemed")).to_have_text("0.00")
            page.click("#spend-max")
            expect(page.locator("#t-redeemed")).to_contain_text("300 балл.")
            # points per line; a coupon typed at the till is listed with its state,
            # an unknown one is refused in plain words and changes nothing
            expect(page.locator("#basket tbody tr").first.locator("td").nth(4)).to_contain_text("-")
            page.fill("#coupon", "NO-SUCH-COUPON")
            page.press("#coupon", "Enter")
            expect(page.locator("#error")).to_contain_text("Такого купона нет", timeout=10_000)
            expect(page.locator("#coupons")).to_contain_text("Купонов нет")
            page.fill("#coupon", "SPRING300")
            page.press("#coupon", "Enter")
            expect(page.locator("#coupons li")).to_have_count(1, timeout=10_000)
            expect(page.locator("#coupons")).to_contain_text("SPRING300")
            expect(page.locator("#coupons")).to_contain_text("применён")
            assert agent.till.current().coupons == ["SPRING300"]
            page.screenshot(path=str(tmp_path / "cashier.png"), full_page=True)
            shot = os.environ.get("KOPILKA_SCREENSHOT")
            if shot:
                page.screenshot(path=shot, full_page=True)
            page.click("#pay-card")
            expect(page.locator("#receipt")).to_contain_text("чек KY-001-01/1", timeout=10_000)
        finally:
            browser.close()
    assert printer.wait_for_receipts(1, timeout=10)
    got = parse_printed(printer.receipts[0].text)
    assert got["receipt_id"] == "KY-001-01/1" and got["totals"]["points_spent"] == 300
    [row] = agent.till.outbox.rows()
    assert row.txn["result"]["totals"]["redeemed_points"] == 300


def test_the_page_in_english_when_the_till_says_so(tmp_path: Path, bundle_doc: dict[str, Any]) -> None:
    from playwright.sync_api import expect, sync_playwright

    agent, loop = start_agent(tmp_path, bundle_doc, language="en")
    try:
        with sync_playwright() as pw:
            browser, page = browser_page(pw)
            try:
                page.goto(agent.api.url + "/cashier")
                expect(page.locator("h2").first).to_contain_text("Basket")
                expect(page.locator("#new")).to_have_text("New sale")
                assert page.locator("html").get_attribute("lang") == "en"
            finally:
                browser.close()
    finally:
        stop_agent(agent, loop)


def test_the_offline_state_and_the_queue_depth_are_visible(tmp_path: Path, bundle_doc: dict[str, Any]) -> None:
    import socket

    from playwright.sync_api import expect, sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens: the ledger is down
    agent, loop = start_agent(tmp_path, bundle_doc, ledger={"url": dead, "key": "k", "bootstrap_timeout_s": 2})
    try:
        with httpx.Client(base_url=agent.api.url, headers={"Authorization": f"Bearer {agent.api_token}"}) as pos:
            sid = pos.post("/v1/sessions").json()["id"]
            pos.post(f"/v1/sessions/{sid}/lines", json={"sku": MILK})
            pos.post(f"/v1/sessions/{sid}/pay", json={"method": "cash"})
        with sync_playwright() as pw:
            browser, page = browser_page(pw)
            try:
                page.goto(agent.api.url + "/cashier")
                expect(page.locator("#offline")).to_be_visible(timeout=10_000)
                expect(page.locator("#offline")).to_contain_text("Нет связи с сервером лояльности")
                expect(page.locator("#offline")).to_contain_text("Не отправлено чеков: 1")
                expect(page.locator("#link")).to_have_text("сервер лояльности: нет связи")
                expect(page.locator("#queue")).to_have_text("в очереди на отправку: 1")
            finally:
                browser.close()
    finally:
        stop_agent(agent, loop)


def test_hostile_names_promotion_ids_and_codes_render_as_text_and_run_nothing(
        tmp_path: Path, bundle_doc: dict[str, Any]) -> None:
    from playwright.sync_api import expect, sync_playwright

    bundle = copy.deepcopy(bundle_doc)
    for p in bundle["promotions"]:
        if p["id"] == "MILK-2FOR1":
            p["id"] = EVIL
    rename_item(bundle, MILK, EVIL + " Молоко")
    agent, loop = start_agent(tmp_path, bundle)
    try:
        with sync_playwright() as pw:
            browser, page = browser_page(pw)
            try:
                page.goto(agent.api.url + "/cashier")
                expect(page.locator("#till")).to_contain_text("KY-001-01")
                page.fill("#code", MILK)
                page.press("#code", "Enter")
                page.fill("#code", MILK)
                page.press("#code", "Enter")
                row = page.locator("#basket tbody tr").first
                expect(row.locator(".promo")).to_have_text(EVIL, timeout=10_000)
                expect(row).to_contain_text(EVIL + " Молоко")
                # a hostile scanned payload: refused, shown as text in the log
                page.fill("#code", EVIL)
                page.press("#code", "Enter")
                expect(page.locator("#error")).to_be_visible()
                expect(page.locator("#log")).to_contain_text("<img src=x")
                assert page.locator("img").count() == 0
                assert page.evaluate("window.__pwned") is None
                page.fill("#coupon", EVIL)
                page.press("#coupon", "Enter")
                expect(page.locator("#error")).to_contain_text("Купон")
                assert page.locator("img").count() == 0 and page.evaluate("window.__pwned") is None
            finally:
                browser.close()
        # no side effect: the one open sale holds the two milks, nothing else was opened or paid
        s = agent.till.current()
        assert s is not None and s.lines == [{"sku": MILK, "qty": "2"}]
        assert agent.till.outbox.rows() == []
    finally:
        stop_agent(agent, loop)


ATTACK = """<!doctype html><html><body>
<iframe name="sink1"></iframe><iframe name="sink2"></iframe>
<form id="plain" method="POST" enctype="text/plain" target="sink1" action="{till}/v1/returns">
<input name='{{"receipt": "KY-001-01/1", "items": [{{"line": 0}}], "x": "' value='"}}'></form>
<form id="urlenc" method="POST" target="sink2" action="{till}/v1/sessions"><input name="a" value="b"></form>
<script>
const till = "{till}";
const body = JSON.stringify({{receipt: "KY-001-01/1", items: [{{line: 0}}]}});
const tries = [
  fetch(till + "/v1/returns", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}}, body}}),
  fetch(till + "/v1/sessions", {{method: "POST", mode: "no-cors"}}),
  fetch(till + "/v1/returns", {{method: "POST", headers: {{"Content-Type": "application/json",
        "Authorization": "Bearer guess"}}, body}}),
  fetch(till + "/cashier").then((r) => r.text()).then((t) => {{ document.title = "LEAK " + t.length; }}),
];
let loaded = 0;
for (const f of document.querySelectorAll("iframe")) f.addEventListener("load", () => {{ loaded += 1; finish(); }});
let settled = false;
Promise.allSettled(tries).then(() => {{ settled = true; finish(); }});
function finish() {{ if (settled && loaded >= 2 && !document.title.startsWith("LEAK")) document.title = "done"; }}
document.getElementById("plain").submit();
document.getElementById("urlenc").submit();
</script></body></html>"""


class Refusals(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_page_from_another_origin_cannot_create_a_sale_or_a_return(tmp_path: Path, bundle_doc) -> None:
    from playwright.sync_api import sync_playwright

    agent, loop = start_agent(tmp_path, bundle_doc)
    refusals = Refusals()
    logging.getLogger("agent._security").addHandler(refusals)
    try:
        till_url = agent.api.url
        with httpx.Client(base_url=till_url, headers={"Authorization": f"Bearer {agent.api_token}"}) as pos:
            sid = pos.post("/v1/sessions").json()["id"]
            pos.post(f"/v1/sessions/{sid}/lines", json={"sku": MILK})
            assert pos.post(f"/v1/sessions/{sid}/pay", json={"method": "cash"}).json()["receipt_id"] == "KY-001-01/1"
        before = (len(agent.till.outbox.rows()), agent.till.current())
        with another_site(ATTACK.format(till=till_url).encode()) as evil_url, sync_playwright() as pw:
            browser, page = browser_page(pw)
            try:
                page.goto(evil_url)
                page.wait_for_function("document.title === 'done' || document.title.startsWith('LEAK')",
                                       timeout=15_000)
                assert page.title() == "done"
            finally:
                browser.close()
        # nothing changed at the till: one sale, no return, no new session
        assert (len(agent.till.outbox.rows()), agent.till.current()) == before
        with agent.till.db.lock:
            kinds = agent.till.db.conn.execute("SELECT kind FROM agent_sale").fetchall()
            sessions = agent.till.db.conn.execute("SELECT COUNT(*) FROM agent_session").fetchone()[0]
        assert kinds == [("sale",)] and sessions == 1
        # and the forged requests did reach the till and were refused for their origin
        assert sum("bad_origin" in m for m in refusals.messages) >= 4, refusals.messages
    finally:
        logging.getLogger("agent._security").removeHandler(refusals)
        stop_agent(agent, loop)


def test_another_site_cannot_frame_the_cashier_page(tmp_path: Path, bundle_doc) -> None:
    """frame-ancestors 'self': no click-jacking of the pay button from another origin."""
    from playwright.sync_api import sync_playwright

    agent, loop = start_agent(tmp_path, bundle_doc)
    try:
        html = (f'<!doctype html><iframe id="f" src="{agent.api.url}/cashier"></iframe>').encode()
        with another_site(html) as evil_url, sync_playwright() as pw:
            browser, page = browser_page(pw)
            try:
                page.goto(evil_url, wait_until="load")
                frame = page.frame_locator("#f")
                assert frame.locator("#pay-cash").count() == 0
                [child] = page.main_frame.child_frames
                assert not child.url.startswith(agent.api.url)  # blocked: Chromium's error page
            finally:
                browser.close()
    finally:
        stop_agent(agent, loop)


def test_the_hints_panel_shows_the_near_miss_and_why_on_request_with_hostile_names_as_text(
        tmp_path: Path, bundle_doc: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    kefir = "4607000000021"
    bundle = copy.deepcopy(bundle_doc)
    bundle["promotions"] = [
        {"id": EVIL, "kind": "n_for_m", "n": 3, "m": 2, "targets": {"skus": [kefir]}},
        {"id": "CHEESE-10", "kind": "basket_percent", "value": 1000, "min_amount": 55980,
         "targets": {"categories": ["dairy/cheese"]}},
    ]
    rename_item(bundle, kefir, EVIL + " Кефир")
    agent, loop = start_agent(tmp_path, bundle)
    try:
        with cashier_page(agent) as page:
            expect(page.locator("#hint-panel h2")).to_have_text("Подсказки")
            expect(page.locator("#hints")).to_have_text("Подсказок нет.")
            for code in (kefir, kefir, CHEESE):
                page.fill("#code", code)
                page.press("#code", "Enter")
            near = page.locator("#hints li.near")
            expect(near).to_have_text(f"добавьте ещё 1 ({EVIL} Кефир) — 3 по цене 2", timeout=10_000)
            # why the cheese discount did not apply (339.90 ₽ short: not near), on request
            expect(page.locator("#hints-why")).to_be_visible()
            other = page.locator("#hints-other li")
            expect(other).to_be_hidden()
            page.click("#hints-why-title")
            expect(other).to_have_text("добавьте товаров (dairy/cheese) на 339.90 ₽ — скидка 10%")
            assert page.locator("img").count() == 0 and page.evaluate("window.__pwned") is None
    finally:
        stop_agent(agent, loop)


def test_a_new_card_is_enrolled_from_the_page_and_shown_masked(
        tmp_path: Path, bundle_doc: dict[str, Any]) -> None:
    """docs/enrolment.md: an unknown card of the programme offers the enrol button."""
    from playwright.sync_api import expect, sync_playwright

    new_card = "2900000777774"
    agent, loop = start_agent(tmp_path, bundle_doc, language="en")
    try:
        with sync_playwright() as pw:
            browser, page = browser_page(pw)
            try:
                page.goto(agent.api.url + "/cashier")
                page.fill("#code", MILK)
                page.press("#code", "Enter")
                expect(page.locator("#basket tbody tr")).to_have_count(1)
                expect(page.locator("#enrol")).to_be_hidden()
                page.fill("#code", new_card)
                page.press("#code", "Enter")
                expect(page.locator("#enrol")).to_be_visible()
                expect(page.locator("#enrol")).to_have_text("Enrol this new card: the customer joins now")
                page.click("#enrol")
                expect(page.locator("#customer")).to_be_visible()
                expect(page.locator("#c-card")).to_contain_text("7774")
                expect(page.locator("#enrol")).to_be_hidden()
                assert new_card not in page.content()  # masked everywhere on the page
            finally:
                browser.close()
        kinds = [r.txn["kind"] for r in agent.till.outbox.rows()]
        assert kinds == ["enrol"]
    finally:
        stop_agent(agent, loop)
