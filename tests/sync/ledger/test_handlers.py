"""The ledger's API handlers are module-level functions of one request: each runs alone."""
from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request

from sync.ledger import Ledger, RequestError, http_answer
from sync.ledger import _app

from .helpers import TillSim


def _request(ledger: Ledger, path: str, headers: dict[str, str] | None = None,
             **path_params: str) -> Request:
    scope: dict[str, Any] = {
        "type": "http", "method": "GET", "path": path, "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "path_params": path_params, "app": SimpleNamespace(state=SimpleNamespace(ledger=ledger))}
    return Request(scope)


def test_the_time_handler_answers_the_ledger_clock_alone(ledger: Ledger) -> None:
    resp = asyncio.run(_app.time(_request(ledger, "/v1/time")))
    assert json.loads(bytes(resp.body)) == {"server_time": "2026-11-22T07:00:00Z"}


def test_the_till_me_handler_answers_its_till_alone(shop: Ledger, till: TillSim) -> None:
    resp = asyncio.run(_app.till_me(_request(shop, "/v1/tills/me", till.headers)))
    assert json.loads(bytes(resp.body))["till"] == till.till


def test_a_handler_refuses_with_a_request_error_mapped_by_the_one_table(shop: Ledger) -> None:
    with pytest.raises(RequestError) as err:
        asyncio.run(_app.customer(_request(shop, "/v1/customers/x", card="x")))
    assert err.value.reason == "unauthorized"
    status, body, _ = http_answer(err.value)
    assert status == 401 and body["error"] == "unauthorized"


def test_every_route_of_the_table_is_served(ledger: Ledger) -> None:
    app = _app.make_app(ledger)
    served = {(r.path, tuple(sorted(m for m in r.methods if m != "HEAD")))  # type: ignore[attr-defined]
              for r in app.routes}
    assert served == {(p, tuple(sorted(ms))) for p, ms, _ in _app.ROUTES}
