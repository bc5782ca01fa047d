"""End to end on every simulator: a phone QR read by the camera, goods through
the pty scanner, points redeemed, the receipt read back from the printer
twin line by line, and the sale at the ledger exactly once -- with the link
up, and with the link down (several ways) and then back."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from shop_kit import wait

from agent import Agent, Runtime, parse_config
from hardware_sim.demo import MEMBERS
from agent._receipt import parse_printed

MILK, CHEESE, COFFEE = "4607000000014", "4607000000038", "4607000000090"


def show_phone(shop: dict[str, Any], card: str) -> None:
    from drivers._camera import Camera
    from hardware_sim._camera import CameraTwin, Shot

    token = shop["phone"].post("/v1/tokens", json={"card": card}).json()["token"]
    cam = Camera(CameraTwin([Shot(None, 2, phone=False), Shot(token, 30, "dark")], seed=7))
    cam.open()
    cam.arm()
    try:
        while not (scans := cam.poll()):
            assert scans is not None, "the camera never read the phone"
        shop["agent"].inbox.put(("camera", scans[0]))
    finally:
        cam.close()


@pytest.mark.parametrize("link", ["pass", "blackhole", "503", "reset", "delay"])
def test_phone_scanner_points_receipt_and_ledger_exactly_once(shop: dict[str, Any], link: str) -> None:
    agent, till, ledger = shop["agent"], shop["agent"].till, shop["ledger"]
    wait(lambda: agent.uploader.counters.heartbeats > 0, "first contact", agent)
    shop["proxy"].set_mode(link)
    show_phone(shop, MEMBERS[0]["card"])
    wait(lambda: till.current() is not None and till.current().customer is not None, "identification", agent)
    s = till.current()
    assert s.customer["mode"] == ("online" if link == "pass" else "offline")
    for sku in (MILK, CHEESE, COFFEE, MILK):
        shop["scanner"].scan(sku)
    wait(lambda: sum(int(ln["qty"]) for ln in till.current().lines) == 4, "four scans", agent)
    s = till.redeem(s.id, "max")
    spent = s.result["totals"]["redeemed_points"]
    assert spent > 0 and (s.hold is not None) == (link == "pass")
    s = till.pay(s.id, "card")
    assert shop["printer"].wait_for_receipts(1, timeout=10)
    # the receipt, line by line, as committed
    [row] = till.outbox.rows()
    res = row.txn["result"]
    got = parse_printed(shop["printer"].receipts[0].text)
    assert got["receipt_id"] == s.receipt_id == "KY-001-01/1"
    assert [(ln["qty"], ln["amount"], ln["discount"]) for ln in got["lines"]] == \
        [(ln["qty"], ln["amount"], ln["discount"]) for ln in res["lines"]]
    assert (got["totals"]["subtotal"], got["totals"]["total"], got["totals"]["points_spent"]) == \
        (res["totals"]["amount"], res["totals"]["paid"], spent)
    assert got["totals"]["card"] == "****" + MEMBERS[0]["card"][-4:]
    # the link comes back: the sale reaches the ledger exactly once
    shop["proxy"].set_mode("pass")
    agent.uploader.sync_now()
    wait(lambda: till.outbox.status().queue_depth == 0, "the upload", agent)
    agent.uploader.sync_now()  # a second drain sends nothing again
    with ledger.storage.transaction() as tx:
        rows = tx.all("SELECT txn_id, mode FROM sales WHERE till = ?", ("KY-001-01",))
    assert [(r[0], r[1]) for r in rows] == [(row.txn_id, "online" if link == "pass" else "offline")]
    assert ledger.available("A-ANNA") == 1500 - spent + res["totals"]["points"]
    assert not ledger.check()


def test_the_daemon_identifies_a_phone_held_to_its_camera(tmp_path: Path, bundle_doc, signer) -> None:
    """The threaded camera path of ``agent run``: frames from the camera twin,
    decoded off the sale thread, the customer on the open sale, camera disarmed."""
    import threading

    from drivers._camera import Camera
    from hardware_sim._camera import CameraTwin, Shot

    now = int(time.time())
    token = signer.token(iat=now, exp=now + 300, jti=f"cam-{now}")

    class TwinCameraRuntime(Runtime):
        def camera(self, config: Any, on_scan: Any) -> Any:
            cam = Camera(CameraTwin([Shot(None, 3, phone=False), Shot(token, 300, "dark"),
                                     Shot(None, 3000, phone=False)], seed=3))
            cam.open()
            cam.arm()
            cam.start(on_scan)
            return cam

    (tmp_path / "bundle.json").write_text(json.dumps(bundle_doc), encoding="utf-8")
    cfg = parse_config({"till": {"id": "KY-001-01", "store": "KY-001", "program": "kopilka"},
                        "paths": {"data_dir": "till", "bundle": "bundle.json"}, "api": {"port": 0},
                        "camera": {"source": "twin"}}, tmp_path)
    agent = Agent(cfg, TwinCameraRuntime())
    loop = threading.Thread(target=agent.run, name="agent-loop")
    loop.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            s = agent.till.current() if agent.till is not None else None
            if s is not None and s.customer is not None:
                break
            assert loop.is_alive() and time.monotonic() < deadline, "the camera never identified the customer"
            time.sleep(0.01)
        assert s.customer["account"] == "A-77" and s.customer["mode"] == "offline"
        deadline = time.monotonic() + 5
        while agent.camera.armed:
            assert time.monotonic() < deadline, "camera still armed after identification"
            time.sleep(0.01)
    finally:
        agent.inbox.put(("signal", "stop"))
        loop.join(30)
    assert not loop.is_alive()


def test_a_scanned_receipt_qr_is_announced_for_the_returns_desk_not_taken_as_a_customer(
        tmp_path: Path, bundle_doc) -> None:
    (tmp_path / "bundle.json").write_text(json.dumps(bundle_doc), encoding="utf-8")
    cfg = parse_config({"till": {"id": "KY-001-01", "store": "KY-001", "program": "kopilka"},
                        "paths": {"data_dir": "till", "bundle": "bundle.json"}}, tmp_path)
    agent = Agent(cfg, serve_api=False).start()
    try:
        q = agent.events.subscribe()
        s = agent.till.open_session()
        agent.till.add_line(s.id, MILK)
        s = agent.till.pay(s.id)
        agent.inbox.put(("camera", s.receipt_id))
        agent.inbox.put(("scan", "KY-001-01/99"))
        agent.tick(time.time())
        events = []
        while not q.empty():
            events.append(q.get_nowait())
        found = [(e["receipt_id"], e["found"]) for e in events if e["type"] == "receipt_scanned"]
        assert found == [(s.receipt_id, True), ("KY-001-01/99", False)]
        assert agent.till.current() is None
    finally:
        agent.stop()


def test_paper_out_on_the_printer_twin_keeps_the_sale_and_reprints_when_loaded(tmp_path: Path, bundle_doc) -> None:
    from hardware_sim._printer import PrinterTwin

    from agent._receipt import parse_printed

    printer = PrinterTwin(port=0, render_png=False).start()
    (tmp_path / "bundle.json").write_text(json.dumps(bundle_doc), encoding="utf-8")
    cfg = parse_config({"till": {"id": "KY-001-01", "store": "KY-001", "program": "kopilka"},
                        "paths": {"data_dir": "till", "bundle": "bundle.json"},
                        "printer": {"url": f"tcp://127.0.0.1:{printer.port}"}}, tmp_path)
    agent = Agent(cfg, serve_api=False, print_retry_s=0.0).start()
    try:
        till = agent.till
        printer.set_paper("out")
        s = till.open_session()
        till.add_line(s.id, MILK)
        s = till.pay(s.id, "cash")
        assert len(till.outbox.rows()) == 1 and till.print_queue() == 1 and printer.receipts == []
        assert "1 receipt(s) waiting" in agent.hardware()["printer"]
        printer.set_paper("ok")
        agent.tick(time.time())
        assert printer.wait_for_receipts(1, timeout=10) and till.print_queue() == 0
        assert parse_printed(printer.receipts[0].text)["receipt_id"] == s.receipt_id
        agent.tick(time.time())
        assert len(printer.receipts) == 1  # printed once
    finally:
        agent.stop()
        printer.stop()


def test_a_configured_printer_without_its_library_stops_the_start_loudly(
        tmp_path: Path, bundle_doc, monkeypatch) -> None:
    """The printer is asked for, python-escpos is missing: no silent fallback writer."""
    from drivers import Printer

    from agent import ConfigError

    monkeypatch.setattr(Printer, "requires", ("kopilka_no_such_escpos_library",))
    (tmp_path / "bundle.json").write_text(json.dumps(bundle_doc), encoding="utf-8")
    cfg = parse_config({"till": {"id": "KY-001-01", "store": "KY-001", "program": "kopilka"},
                        "paths": {"data_dir": "till", "bundle": "bundle.json"},
                        "printer": {"url": "tcp://127.0.0.1:9"}}, tmp_path)
    with pytest.raises(ConfigError) as err:
        Agent(cfg, serve_api=False).start()
    assert err.value.reason == "printer_unavailable" and err.value.field == "printer"
    assert "kopilka_no_such_escpos_library" in str(err.value)
    assert not (tmp_path / "till").exists() or not any((tmp_path / "till").iterdir())
