"""``kopilka demo``: one till, one short shift, everything real but the devices.

A temporary SQLite ledger served by uvicorn on a free 127.0.0.1 port, a
chaos proxy between the till and the ledger (the store's link), the pty
scanner twin, a phone showing the app's QR code in front of the camera
twin, and the ESC/POS printer twin rendering receipts. The agent runs on
top exactly as on a till. The script: two customers identify with their
phones, goods go through the scanner (with apples weighed at the shop
scale, read from its label, and a coupon scanned from a flyer), points are spent online (a ledger
hold) and offline (the token's cap) while the link is cut, a return, the
link comes back, the queue drains; then the receipts as printed and a sync
report. ``run_demo`` returns the facts so a test can check them.
"""
from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx

from ._config import parse_config
from ._daemon import Agent
from fastcore import mask_card, money_text as rub
from ._runtime import ApiServer, Runtime

log = logging.getLogger(__name__)

BUNDLE = Path(__file__).with_name("demo_bundle.json")

MILK, KEFIR, CHEESE, BREAD = "4607000000014", "4607000000021", "4607000000038", "4607000000045"
COFFEE, CHOCOLATE, BUCKWHEAT, APPLES = "4607000000090", "4607000000083", "4607000000052", "2000000000053"
#: A shop scale's label (till.md §2): prefix 20, plu 00000 (apples), 455 g, check digit.
APPLES_LABEL = "2000000004556"
COUPON = "SPRING300"

MEMBERS = [
    {"card": "2900000123458", "account": "A-ANNA", "tier": "silver", "segments": ["students"],
     "favorite_category": "dairy", "favorite_until": "2030-12-31", "opening_balance": 1500},
    {"card": "2900000456785", "account": "A-BORIS", "tier": "base", "opening_balance": 900,
     "offline_cap": 200},
    # a plastic card of this store: its tills know her offline (till.md §2a)
    {"card": "2900000789012", "account": "A-VERA", "tier": "base", "opening_balance": 300,
     "home_store": "KY-001"},
]


@dataclass
class DemoResult:
    """What happened, for the test and the summary."""

    workdir: Path
    receipts: list[str] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    ledger_rows: list[dict[str, Any]] = field(default_factory=list)
    balances: dict[str, int] = field(default_factory=dict)
    journal_ok: bool = False
    seconds: float = 0.0
    identify_ms: list[float] = field(default_factory=list)


class _DemoRuntime(Runtime):
    """The real runtime, but the demo drives the camera itself (frame by frame)."""

    def camera(self, config: Any, on_scan: Callable[[Any], None]) -> Any:
        return None

    def install_signals(self, enqueue: Callable[[str], None]) -> None:
        return None


def _wait(cond: Callable[[], bool], what: str, timeout: float = 10.0, tick: Callable[[], Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if tick is not None:
            tick()
        if time.monotonic() > deadline:
            raise RuntimeError(f"demo: timed out waiting for {what}")
        time.sleep(0.005)


def run_demo(echo: Callable[[str], None] = print, workdir: Path | None = None) -> DemoResult:
    """Run the scripted shift; ``echo`` gets every line a person should see."""
    from drivers._camera import Camera
    from hardware_sim import ChaosProxy, ScannerTwin
    from hardware_sim._camera import CameraTwin, Shot
    from hardware_sim._printer import PrinterTwin, write_receipt
    from sync.ledger import Ledger, add_key, make_app
    from sync.ledger._report import collect, render

    started = time.monotonic()
    own_tmp = None
    if workdir is None:
        own_tmp = tempfile.TemporaryDirectory(prefix="kopilka-demo-")
        workdir = Path(own_tmp.name)
    result = DemoResult(workdir)
    receipts_dir = workdir / "receipts"
    stack: list[Callable[[], None]] = []
    try:
        # ---- head office: the ledger -----------------------------------------------
        ledger = Ledger(f"sqlite:///{workdir / 'ledger.sqlite3'}")
        stack.append(ledger.close)
        key = ledger.add_till("KY-001", "KY-001-01")
        ledger.import_bundle(BUNDLE.read_text(encoding="utf-8"))
        ledger.import_members("\n".join(json.dumps(m) for m in MEMBERS))
        server = ApiServer(make_app(ledger), "127.0.0.1", 0).start()
        stack.append(server.stop)
        proxy = ChaosProxy(("127.0.0.1", server.port)).start()
        stack.append(proxy.close)
        # ---- the till's devices ----------------------------------------------------------
        printer = PrinterTwin(port=0, on_receipt=lambda r: write_receipt(r, str(receipts_dir))).start()
        stack.append(printer.stop)
        scanner = ScannerTwin().open()
        stack.append(scanner.close)
        # ---- the till: first start pulls the bundle (with the token keys) -------------------
        cfg = parse_config({
            "till": {"id": "KY-001-01", "store": "KY-001", "program": "kopilka"},
            "paths": {"data_dir": str(workdir / "till")},
            "ledger": {"url": proxy.url, "key": key, "hold_budget_ms": 800, "sync_interval_s": 0.5},
            "api": {"port": 0},
            "scanner": {"device": scanner.path},
            "printer": {"url": f"tcp://127.0.0.1:{printer.port}"},
        }, workdir)
        (workdir / "till").mkdir(parents=True, exist_ok=True)
        _first_pull(cfg, key, proxy.url)
        agent = Agent(cfg, _DemoRuntime(), pull_every_s=3600).start()
        stack.append(agent.stop)
        till = agent.till
        assert till is not None
        app_key = add_key(ledger, "app", "demo-phone")  # the app's back end issues tokens, not a till
        phone = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {app_key}"}, timeout=5)
        stack.append(phone.close)

        echo("kopilka demo: one till, one short shift; every device simulated, everything else real")
        echo(f"  ledger   {server.url}  (SQLite {workdir / 'ledger.sqlite3'})")
        echo(f"  link     till -> chaos proxy {proxy.url} -> ledger")
        echo(f"  scanner  pty {scanner.path}")
        echo(f"  printer  ESC/POS twin on 127.0.0.1:{printer.port} -> {receipts_dir}")
        echo(f"  till API {agent.api.url}/cashier  (bundle v{till.catalog.version}, {len(till.catalog.keys)} token key)")
        echo("")

        def tick() -> None:
            agent.tick(time.time())

        def show_phone(card: str, label: str) -> None:
            token = phone.post("/v1/tokens", json={"card": card}).json()["token"]
            cam = Camera(CameraTwin([Shot(None, 2, phone=False), Shot(token, 40, "plain")], seed=len(label)))
            cam.open()
            cam.arm()
            try:
                t0 = time.perf_counter()
                while True:
                    scans = cam.poll()
                    if scans is None:
                        raise RuntimeError("demo: the camera never read the phone")
                    if scans:
                        break
                decode_ms = (time.perf_counter() - t0) * 1000
                agent.inbox.put(("camera", scans[0]))
                tick()
            finally:
                cam.close()
            s = till.current()
            if s is None or s.customer is None:
                raise RuntimeError("demo: the customer was not identified")
            result.identify_ms.append(decode_ms)
            c = s.customer
            how = "online (ledger answered)" if c["mode"] == "online" else \
                f"OFFLINE (no answer in {cfg.hold_budget_ms} ms): may spend up to {c['offline_points']} pts"
            echo(f"  {label} shows the app QR; camera read it from 1280x720 frames; "
                 f"card {mask_card(c['card'])}, tier {c['tier']}, {c['balance']} pts, {how}")

        def basket_key() -> tuple[Any, ...]:
            cur = till.current()
            if cur is None:
                return ()
            return (tuple((ln["sku"], ln["qty"]) for ln in cur.lines), tuple(cur.coupons))

        def scan(*codes: str) -> None:
            """Each code through the pty scanner; the till routes it (till.md §1)."""
            for code in codes:
                before = basket_key()
                scanner.scan(code)
                _wait(lambda: basket_key() != before, f"scan of {code}", tick=tick)
                if code == APPLES_LABEL:
                    s = till.current()
                    assert s is not None
                    echo(f"  scale label {code}: {till.catalog.name(s.lines[-1]['sku'])}, "
                         f"{s.lines[-1]['qty']} kg weighed at the scale")
            s = till.current()
            assert s is not None and s.result is not None
            names = ", ".join(f"{till.catalog.name(ln['sku'])} x{ln['qty']}" for ln in s.lines)
            echo(f"  scanner: {names}")
            for c in till.coupon_states(s):
                echo(f"  coupon {c['code']}: " + ("applied" if c["applied"] else f"not applied ({c['reason']})"))
            echo(f"  basket {rub(s.result['totals']['amount'])} - discounts "
                 f"{rub(s.result['totals']['discount'])}; can spend {s.result['redeem']['max_points']} pts")

        def spend_and_pay(method: str) -> str:
            s = till.current()
            assert s is not None
            s = till.redeem(s.id, "max")
            t = s.result["totals"]
            where = (f"hold {s.hold['hold_id'][:8]} on the ledger" if s.hold
                     else "offline, within the token's cap" if s.customer and s.customer.get("jti")
                     else "offline, within the card cap")
            echo(f"  spends {t['redeemed_points']} pts ({where}); pays {method} {rub(t['paid'])}; "
                 f"earns {t['points']} pts")
            s = till.pay(s.id, method)
            _wait(lambda: len(printer.receipts) >= len(result.receipts) + 1, "the receipt", tick=tick)
            result.receipts.append(printer.receipts[-1].text)
            echo(f"  receipt {s.receipt_id} printed; till queue: {till.outbox.status().queue_depth} to send")
            return str(s.receipt_id)

        # ---- 1. Anna, online ------------------------------------------------------------------
        echo("1. Anna, link up")
        show_phone(MEMBERS[0]["card"], "Anna")
        scan(MILK, MILK, CHEESE, COFFEE, BREAD, APPLES_LABEL, COUPON)
        anna_receipt = spend_and_pay("card")
        _wait(lambda: till.outbox.status().queue_depth == 0, "the uploader", tick=tick)
        echo(f"  uploaded: ledger balance of Anna now {ledger.available('A-ANNA')} pts")
        echo("")
        # ---- 2. the link goes down -----------------------------------------------------------
        echo("2. The store's link to head office goes down (chaos proxy: blackhole)")
        proxy.set_mode("blackhole")
        show_phone(MEMBERS[1]["card"], "Boris")
        scan(KEFIR, CHOCOLATE, BUCKWHEAT, CHEESE)
        spend_and_pay("cash")
        echo("")
        echo("2b. Vera shows her plastic card, link still down")
        scan(MILK, BREAD)
        scanner.scan(MEMBERS[2]["card"])
        _wait(lambda: (till.current() is not None and till.current().customer is not None),
              "the card from the store's customer cache", tick=tick)
        vera = till.current().customer
        echo(f"  scanner: card {mask_card(vera['card'])} found in the store's customer cache "
             f"(offline), {vera['balance']} pts; may spend {vera['offline_points']} pts offline "
             "(program.offline_card_redeem_cap)")
        spend_and_pay("cash")
        echo("")
        # ---- 3. a return, still offline ----------------------------------------------------------
        echo("3. Anna brings back one milk (link still down)")
        from ._returns import make_return

        scanned = _read_receipt_qr(printer.receipts[0].png)
        events = agent.events.subscribe()
        agent.inbox.put(("scan", scanned))
        tick()
        seen = [e for e in _drain(events) if e["type"] == "receipt_scanned"]
        agent.events.unsubscribe(events)
        if scanned != anna_receipt or not seen or not seen[0]["found"]:
            raise RuntimeError(f"demo: the receipt QR read {scanned!r}, not {anna_receipt!r}")
        echo(f"  returns desk scans the QR on her receipt (decoded from the printer's PNG): {scanned}, "
             "sale found on this till")
        ret = make_return(till, scanned, [{"line": 0, "qty": 1}])
        _wait(lambda: len(printer.receipts) >= len(result.receipts) + 1, "the return receipt", tick=tick)
        result.receipts.append(printer.receipts[-1].text)
        tot = ret["totals"]
        echo(f"  return {ret['receipt_id']}: refund {rub(tot['refund'])}, {tot['points_refunded']} pts back, "
             f"{tot['points_reversed']} earned pts reversed; till queue: {till.outbox.status().queue_depth}")
        echo("")
        # ---- 4. the link comes back -------------------------------------------------------------
        echo("4. The link comes back; kopilka sync now")
        proxy.set_mode("pass")
        assert agent.uploader is not None
        depth = till.outbox.status().queue_depth

        def bar(done: int, total: int) -> None:
            filled = int(20 * done / max(total, 1))
            echo(f"  [{'#' * filled}{'.' * (20 - filled)}] {done}/{total}")

        report = agent.uploader.sync_now(bar)
        if depth and report.sent == 0:
            bar(depth, depth)  # the background uploader was quicker
        _wait(lambda: till.outbox.status().queue_depth == 0, "the queue to drain", timeout=20, tick=tick)
        echo(f"  queue empty: {len(till.outbox.rows())} transactions acknowledged by the ledger")
        echo("")
        # ---- receipts and report --------------------------------------------------------------
        echo("Receipts as the printer twin rendered them:")
        for text in result.receipts:
            echo("  +" + "-" * 50 + "+")
            for line in text.rstrip("\n").splitlines():
                echo(f"  | {line:<48} |")
            echo("  +" + "-" * 50 + "+")
        echo("")
        result.outbox = [dict(r.txn, ack=r.status) for r in till.outbox.rows()]
        with ledger.storage.transaction() as tx:
            got = tx.all("SELECT txn_id, kind, seq, mode, account FROM sales WHERE till = ? ORDER BY seq",
                         ("KY-001-01",))
        result.ledger_rows = [{"txn_id": r[0], "kind": r[1], "seq": r[2], "mode": r[3], "account": r[4]}
                              for r in got]
        result.balances = {m["account"]: ledger.available(m["account"]) for m in MEMBERS}
        result.journal_ok = not ledger.check()
        echo("Till outbox, as the ledger acknowledged it:")
        echo(f"  {'seq':>3}  {'kind':<6} {'receipt':<13} {'customer':<14} {'mode':<7} {'paid':>8} "
             f"{'pts+':>5} {'pts-':>5}  ledger")
        for r in till.outbox.rows():
            t = r.txn
            res = t["result"]["totals"]
            cust = mask_card(t["customer"]["card"]) if t.get("customer") else "-"
            paid = res.get("paid", -res.get("refund", 0))
            plus = res.get("points", res.get("points_refunded", 0))
            minus = res.get("redeemed_points", res.get("points_reversed", 0))
            receipt = f"KY-001-01/{r.seq}"
            echo(f"  {r.seq:>3}  {t['kind']:<6} {receipt:<13} {cust:<14} {t['mode']:<7} {rub(paid):>8} "
                 f"{plus:>5} {minus:>5}  {r.status}")
        echo("")
        echo("Ledger sync report (kopilka report sync):")
        for line in render(collect(ledger.storage), "table").rstrip("\n").splitlines():
            echo("  " + line)
        echo("")
        echo("Ledger balances: " + ", ".join(f"{a} {b} pts" for a, b in result.balances.items())
             + f"; journal = balances: {'OK' if result.journal_ok else 'MISMATCH'}")
        result.seconds = time.monotonic() - started
        echo(f"Done in {result.seconds:.1f} s.")
        return result
    finally:
        for close in reversed(stack):
            try:
                close()
            except Exception:  # pragma: no cover - best effort teardown
                log.exception("demo teardown")
        if own_tmp is not None:
            own_tmp.cleanup()


def _read_receipt_qr(png: bytes | None) -> str:
    """What a camera at the returns desk reads from the printed receipt."""
    import cv2
    import numpy as np

    from drivers._decode import make_decoder

    if not png:
        raise RuntimeError("demo: the printer twin rendered no picture")
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    found = make_decoder().decode(image)
    if not found:
        raise RuntimeError("demo: no QR code on the receipt")
    return str(found[0].payload)


def _drain(q: Any) -> list[dict[str, Any]]:
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


def _first_pull(cfg: Any, key: str, url: str) -> None:
    """A new till's first start: fetch the bundle before opening for sales."""
    from sync import BundlePuller, PromoCache, TillDb

    db = TillDb(cfg.db_path)
    try:
        puller = BundlePuller(PromoCache(db), base_url=url, key=key)
        try:
            outcome = puller.pull_once()
        finally:
            puller.close()
        if outcome.kind != "full":
            raise RuntimeError(f"demo: first bundle pull failed: {outcome}")
    finally:
        db.close()
