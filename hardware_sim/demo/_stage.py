"""The demo's stage: a ledger, the store's link, the till's devices and the agent.

Everything is real but the devices: a SQLite ledger served on 127.0.0.1, a
chaos proxy as the store's link, the pty scanner twin, the camera twin
looking at a phone, the ESC/POS printer twin. ``Stage`` also holds the
cashier's moves the scenes are written in (show a phone, scan, pay).
"""
from __future__ import annotations

import json
import logging
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable

import httpx

from agent import Agent, ApiServer, Runtime, parse_config
from drivers import Camera, make_decoder
from fastcore import mask_card, money_text as money
from sync import BundlePuller, PromoCache, TillDb
from sync.ledger import Ledger, add_key, make_app

from .._camera import CameraTwin, Shot
from .._netproxy import ChaosProxy
from .._printer import PrinterTwin, write_receipt
from .._scanner import ScannerTwin
from ._cast import BUNDLE, MEMBERS, STORE, TILL

log = logging.getLogger(__name__)


class _DemoRuntime(Runtime):
    """The real runtime, but the demo drives the camera itself (frame by frame)."""

    def camera(self, config: Any, on_scan: Callable[[Any], None]) -> Any:
        return None

    def install_signals(self, enqueue: Callable[[str], None]) -> None:
        return None


def wait_until(cond: Callable[[], bool], what: str, timeout: float = 10.0,
               tick: Callable[[], Any] | None = None) -> None:
    """Poll ``cond`` (running ``tick`` between polls) or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not cond():
        if tick is not None:
            tick()
        if time.monotonic() > deadline:
            raise RuntimeError(f"demo: timed out waiting for {what}")
        time.sleep(0.005)


def first_pull(cfg: Any, key: str, url: str) -> None:
    """A new till's first start: fetch the bundle before opening for sales."""
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


def read_receipt_qr(png: bytes | None) -> str:
    """What a camera at the returns desk reads from the printed receipt."""
    import cv2
    import numpy as np

    if not png:
        raise RuntimeError("demo: the printer twin rendered no picture")
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise RuntimeError("demo: the receipt's picture does not decode")
    found = make_decoder().decode(image)
    if not found:
        raise RuntimeError("demo: no QR code on the receipt")
    return str(found[0].payload)


class Stage:
    """The composed shift; ``close()`` tears it down in reverse order."""

    def __init__(self, workdir: Path, echo: Callable[[str], None]) -> None:
        self.workdir = workdir
        self.echo = echo
        self.receipts: list[str] = []
        self.identify_ms: list[float] = []
        self._closers: list[Callable[[], None]] = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _on_close(self, close: Callable[[], None]) -> None:
        self._closers.append(close)

    def _build(self) -> None:
        work = self.workdir
        # ---- head office: the ledger
        self.ledger = Ledger(f"sqlite:///{work / 'ledger.sqlite3'}")
        self._on_close(self.ledger.close)
        key = self.ledger.add_till(STORE, TILL)
        self.ledger.import_bundle(BUNDLE.read_text(encoding="utf-8"))
        self.ledger.import_members("\n".join(json.dumps(m) for m in MEMBERS))
        self.server = ApiServer(make_app(self.ledger), "127.0.0.1", 0).start()
        self._on_close(self.server.stop)
        self.proxy = ChaosProxy(("127.0.0.1", self.server.port)).start()
        self._on_close(self.proxy.close)
        # ---- the till's devices
        self.receipts_dir = work / "receipts"
        def keep(receipt: Any) -> None:
            write_receipt(receipt, str(self.receipts_dir))

        self.printer = PrinterTwin(port=0, on_receipt=keep).start()
        self._on_close(self.printer.stop)
        self.scanner = ScannerTwin().open()
        self._on_close(self.scanner.close)
        # ---- the till: first start pulls the bundle (with the token keys)
        self.cfg = parse_config({
            "till": {"id": TILL, "store": STORE, "program": "kopilka"},
            "paths": {"data_dir": str(work / "till")},
            "ledger": {"url": self.proxy.url, "key": key, "hold_budget_ms": 800, "sync_interval_s": 0.5},
            "api": {"port": 0},
            "scanner": {"device": self.scanner.path},
            "printer": {"url": f"tcp://127.0.0.1:{self.printer.port}"},
        }, work)
        (work / "till").mkdir(parents=True, exist_ok=True)
        first_pull(self.cfg, key, self.proxy.url)
        self.agent = Agent(self.cfg, _DemoRuntime(), pull_every_s=3600).start()
        self._on_close(self.agent.stop)
        assert self.agent.till is not None
        self.till = self.agent.till
        app_key = add_key(self.ledger, "app", "demo-phone")  # the app's back end issues tokens, not a till
        self.phone = httpx.Client(base_url=self.server.url, headers={"Authorization": f"Bearer {app_key}"},
                                  timeout=5)
        self._on_close(self.phone.close)

    def close(self) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception:  # pragma: no cover - best effort teardown
                log.exception("demo teardown")
        self._closers.clear()

    # ---------------------------------------------------------------- the cashier's moves

    def tick(self) -> None:
        self.agent.tick(time.time())

    def wait(self, cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        wait_until(cond, what, timeout, tick=self.tick)

    def queue_depth(self) -> int:
        return int(self.till.outbox.status().queue_depth)

    def show_phone(self, card: str, label: str) -> None:
        """The customer shows the app's QR; the camera twin reads it frame by frame."""
        token = self.phone.post("/v1/tokens", json={"card": card}).json()["token"]
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
            self.agent.inbox.put(("camera", scans[0]))
            self.tick()
        finally:
            cam.close()
        s = self.till.current()
        if s is None or s.customer is None:
            raise RuntimeError("demo: the customer was not identified")
        self.identify_ms.append(decode_ms)
        c = s.customer
        how = "online (ledger answered)" if c["mode"] == "online" else \
            f"OFFLINE (no answer in {self.cfg.hold_budget_ms} ms): may spend up to {c['offline_points']} pts"
        self.echo(f"  {label} shows the app QR; camera read it from 1280x720 frames; "
                  f"card {mask_card(c['card'])}, tier {c['tier']}, {c['balance']} pts, {how}")

    def _basket_key(self) -> tuple[Any, ...]:
        cur = self.till.current()
        if cur is None:
            return ()
        return (tuple((ln["sku"], ln["qty"]) for ln in cur.lines), tuple(cur.coupons))

    def _basket_changed(self, before: tuple[Any, ...]) -> bool:
        return self._basket_key() != before

    def scan(self, *codes: str, label: str = "") -> None:
        """Each code through the pty scanner; the till routes it (till.md §1)."""
        for code in codes:
            before = self._basket_key()
            self.scanner.scan(code)
            self.wait(partial(self._basket_changed, before), f"scan of {code}")
            if code == label:
                s = self.till.current()
                assert s is not None
                self.echo(f"  scale label {code}: {self.till.catalog.name(s.lines[-1]['sku'])}, "
                          f"{s.lines[-1]['qty']} kg weighed at the scale")
        s = self.till.current()
        assert s is not None and s.result is not None
        names = ", ".join(f"{self.till.catalog.name(ln['sku'])} x{ln['qty']}" for ln in s.lines)
        self.echo(f"  scanner: {names}")
        for c in self.till.coupon_states(s):
            self.echo(f"  coupon {c['code']}: " + ("applied" if c["applied"] else f"not applied ({c['reason']})"))
        self.echo(f"  basket {money(s.result['totals']['amount'])} - discounts "
                  f"{money(s.result['totals']['discount'])}; can spend {s.result['redeem']['max_points']} pts")

    def take_receipt(self, what: str) -> None:
        """Wait for the printer twin's next receipt and keep its text."""
        self.wait(lambda: len(self.printer.receipts) >= len(self.receipts) + 1, what)
        self.receipts.append(self.printer.receipts[-1].text)

    def spend_and_pay(self, method: str) -> str:
        """Spend the most points the sale allows, pay, and wait for the receipt."""
        s = self.till.current()
        assert s is not None
        s = self.till.redeem(s.id, "max")
        assert s.result is not None
        t = s.result["totals"]
        where = (f"hold {s.hold['hold_id'][:8]} on the ledger" if s.hold
                 else "offline, within the token's cap" if s.customer and s.customer.get("jti")
                 else "offline, within the card cap")
        self.echo(f"  spends {t['redeemed_points']} pts ({where}); pays {method} {money(t['paid'])}; "
                  f"earns {t['points']} pts")
        s = self.till.pay(s.id, method)
        self.take_receipt("the receipt")
        self.echo(f"  receipt {s.receipt_id} printed; till queue: {self.queue_depth()} to send")
        return str(s.receipt_id)
