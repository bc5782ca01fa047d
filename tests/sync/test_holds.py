from __future__ import annotations

import json
import socket
import threading
import time

import httpx

from hardware_sim import ChaosProxy
from sync import HoldClient

from .test_uploader import wait_for


def client(handler, budget: float = 0.3) -> HoldClient:  # type: ignore[no-untyped-def]
    return HoldClient(base_url="http://ledger", key="k", till="KY-001-01",
                      transport=httpx.MockTransport(handler), budget_s=budget)


def test_a_granted_hold_is_held() -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(201, json={"hold_id": "H1", "points": 150, "expires_at": "2026-11-22T07:15:00Z"})

    with client(handler) as hc:
        out = hc.place("A-77", 150, "t-1")
    assert (out.kind, out.hold_id, out.points, out.expires_at) == ("held", "H1", 150, "2026-11-22T07:15:00Z")
    assert seen == [{"till": "KY-001-01", "account": "A-77", "points": 150, "txn_id": "t-1"}]


def test_a_hold_above_the_balance_is_insufficient_with_the_available_points() -> None:
    with client(lambda r: httpx.Response(409, json={"error": "insufficient_balance", "available": 40})) as hc:
        out = hc.place("A-77", 150, "t-1")
    assert (out.kind, out.available) == ("insufficient", 40)


def test_errors_and_odd_answers_are_offline() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    for handler, reason in [
        (down, "network: ConnectError"),
        (lambda r: httpx.Response(500, json={"error": "x"}), "x"),
        (lambda r: httpx.Response(500, content=b"oops"), "http_500"),
        (lambda r: httpx.Response(201, content=b"<html>"), "http_201"),
        (lambda r: httpx.Response(409, json={"error": "hold_closed"}), "hold_closed"),
        (lambda r: httpx.Response(404, json=[]), "http_404"),
    ]:
        with client(handler) as hc:
            out = hc.place("A-77", 10, "t")
        assert (out.kind, out.reason) == ("offline", reason)


def test_a_black_holed_ledger_answers_offline_within_the_budget() -> None:
    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        with ChaosProxy(dead.getsockname(), mode="blackhole") as proxy:
            with HoldClient(base_url=proxy.url, key="k", till="T", budget_s=0.2) as hc:
                t0 = time.monotonic()
                out = hc.place("A-77", 10, "t")
                card = hc.lookup_card("2900000123454")
                elapsed = time.monotonic() - t0
    assert (out.kind, out.reason) == ("offline", "timeout")
    assert card.kind == "offline"
    assert elapsed < 2.0  # two calls of 0.2 s each, with ample slack for a busy machine


def test_a_hold_granted_after_the_budget_is_released_at_once() -> None:
    gate = threading.Event()
    deleted: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            deleted.append(request.url.path)
            return httpx.Response(200, json={"released": True})
        gate.wait(5)
        return httpx.Response(201, json={"hold_id": "LATE", "points": 10, "expires_at": "x"})

    with client(handler, budget=0.05) as hc:
        out = hc.place("A-77", 10, "t")
        assert out.kind == "offline"
        gate.set()
        assert wait_for(lambda: deleted == ["/v1/holds/LATE"])


def test_release_reports_the_ledgers_confirmation() -> None:
    with client(lambda r: httpx.Response(200, json={"released": True})) as hc:
        assert hc.release("H1")
    with client(lambda r: httpx.Response(404, json={"error": "not_found"})) as hc:
        assert not hc.release("H1")


def test_card_lookup_found_unknown_and_offline() -> None:
    customer = {"card": "2900000123454", "account": "A-77", "tier": "silver", "balance": 300}
    with client(lambda r: httpx.Response(200, json=customer)) as hc:
        found = hc.lookup_card("2900000123454")
    assert (found.kind, found.customer) == ("found", customer)
    with client(lambda r: httpx.Response(404, json={"error": "not_found"})) as hc:
        assert hc.lookup_card("2900000123454").kind == "unknown"
    for handler in (lambda r: httpx.Response(502), lambda r: httpx.Response(200, content=b"x"),
                    lambda r: httpx.Response(200, json=[1])):
        with client(handler) as hc:
            assert hc.lookup_card("2900000123454").kind == "offline"
