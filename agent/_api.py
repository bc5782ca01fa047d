"""The local HTTP API for the POS host and the cashier screen (127.0.0.1).

Every refusal is a specific 4xx with ``{"error": <reason>, "message":
<plain words>, "field"?}`` and changes nothing: the till validates first and
edits the journaled session only when everything is right.

- 400 ``bad_json`` / ``bad_request`` (with ``field``): the request itself.
- 404 ``unknown_session``, ``unknown_line``, ``unknown_sku``, ``unknown_receipt``.
- 409 ``session_open``, ``not_open``, ``bad_state``: not now.
- 422 a token/card refused (its spec reason) or a value the sale cannot take.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path
from typing import Any, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ._errors import AgentError, ReturnError, SessionError, TokenError
from ._openapi import openapi_document
from ._returns import make_return
from ._till import Till
from ._token import message_for

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")

_STATUS = {
    "unknown_session": 404, "unknown_line": 404, "unknown_sku": 404, "unknown_receipt": 404,
    "coupon_not_in_sale": 404,
    "session_open": 409, "not_open": 409, "bad_state": 409,
}

_WORDS = {
    "unknown_sku": "This barcode is not in the catalogue. Type the price in the POS or call a supervisor.",
    "bad_qty": "That quantity is not possible for this item.",
    "unknown_card": "This card is not known at this store. Sell without the card.",
    "no_customer": "Scan the customer's app code or card first.",
    "empty": "Scan at least one item before payment.",
    "session_open": "A sale is already open on this till.",
    "not_open": "This sale is already paid or cancelled.",
    "too_much": "More than what is left on the receipt.",
    "unknown_receipt": "No sale with this receipt number on this till.",
}


class BadRequest(Exception):
    def __init__(self, field: str, message: str, reason: str = "bad_request") -> None:
        super().__init__(message)
        self.field, self.message, self.reason = field, message, reason


def _error(exc: Exception) -> JSONResponse:
    if isinstance(exc, BadRequest):
        return JSONResponse({"error": exc.reason, "message": exc.message, "field": exc.field}, 400)
    if isinstance(exc, TokenError):
        return JSONResponse({"error": exc.reason, "message": message_for(exc.reason)}, 422)
    assert isinstance(exc, AgentError)
    status = _STATUS.get(exc.reason, 422)
    words = _WORDS.get(exc.reason, exc.message)
    doc = {"error": exc.reason, "message": words, "detail": exc.message}
    for extra in ("code", "field"):  # till.md §1: a refused code names the code
        if getattr(exc, extra, None) is not None:
            doc[extra] = getattr(exc, extra)
    return JSONResponse(doc, status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise BadRequest("body", f"not JSON: {exc}", "bad_json") from exc
    if not isinstance(doc, dict):
        raise BadRequest("body", "the body must be a JSON object")
    return doc


def _field(doc: dict[str, Any], name: str, kinds: type | tuple[type, ...], *, required: bool = True,
           default: Any = None) -> Any:
    if name not in doc:
        if required:
            raise BadRequest(name, f"{name} is required")
        return default
    value = doc[name]
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise BadRequest(name, f"{name} has the wrong type")
    if not isinstance(value, kinds):
        raise BadRequest(name, f"{name} has the wrong type")
    return value


def create_app(till: Till, status: Callable[[], dict[str, Any]] | None = None,
               closing: threading.Event | None = None,
               sync_now: Callable[[], dict[str, Any]] | None = None) -> Starlette:
    """The ASGI app of one till's local API."""
    stop = closing or threading.Event()
    status_fn = status or till.status

    def handler(fn: Callable[..., Any], code: int = 200, inline: bool = False) -> Callable[[Request], Any]:
        """``inline``: the call never waits on the network (a basket edit:
        engine + one unsynced SQLite write), so it runs on the event loop and
        skips the thread hop; anything that may ask the ledger runs in a thread."""
        async def endpoint(request: Request) -> Response:
            try:
                doc = await _body(request) if request.method in ("POST", "PATCH") else {}
                result = fn(request, doc) if inline else await run_in_threadpool(fn, request, doc)
            except (BadRequest, AgentError) as exc:
                return _error(exc)
            return JSONResponse(result, code)
        return endpoint

    def sid(request: Request) -> str:
        return str(request.path_params["sid"])

    def index(request: Request) -> int:
        return int(request.path_params["index"])

    def open_session(request: Request, doc: dict[str, Any]) -> Any:
        return till.view(till.open_session())

    def current(request: Request, doc: dict[str, Any]) -> Any:
        s = till.current()
        if s is None:
            raise SessionError("unknown_session", "no open sale")
        return till.view(s)

    def get_session(request: Request, doc: dict[str, Any]) -> Any:
        return till.view(till.get(sid(request)))

    def add_line(request: Request, doc: dict[str, Any]) -> Any:
        sku = _field(doc, "sku", str)
        qty = _field(doc, "qty", (int, str), required=False, default=1)
        return till.view(till.add_line(sid(request), sku, qty))

    def set_qty(request: Request, doc: dict[str, Any]) -> Any:
        return till.view(till.set_qty(sid(request), index(request), _field(doc, "qty", (int, str))))

    def void(request: Request, doc: dict[str, Any]) -> Any:
        return till.view(till.void_line(sid(request), index(request)))

    def scan(request: Request, doc: dict[str, Any]) -> Any:
        code = _field(doc, "code", str)
        s = till.get(sid(request))
        routed, changed = till.scan(s.id, code)
        view = till.view(changed or s)
        view["scanned"] = {"kind": routed.kind}
        if routed.kind == "receipt":
            view["scanned"].update(receipt_id=routed.code, found=till.sale(routed.code) is not None)
        return view

    def add_coupon(request: Request, doc: dict[str, Any]) -> Any:
        return till.view(till.add_coupon(sid(request), _field(doc, "code", str)))

    def remove_coupon(request: Request, doc: dict[str, Any]) -> Any:
        return till.view(till.remove_coupon(sid(request), str(request.path_params["code"])))

    def identify(request: Request, doc: dict[str, Any]) -> Any:
        return till.view(till.identify(sid(request), _field(doc, "code", str)))

    def redeem(request: Request, doc: dict[str, Any]) -> Any:
        points = _field(doc, "points", (int, str))
        if isinstance(points, str) and points != "max":
            raise BadRequest("points", 'points is a whole number or "max"')
        return till.view(till.redeem(sid(request), points))

    def pay(request: Request, doc: dict[str, Any]) -> Any:
        method = _field(doc, "method", str, required=False, default="cash")
        if method not in ("cash", "card", "other"):
            raise BadRequest("method", "method is cash, card or other")
        return till.view(till.pay(sid(request), method))

    def cancel(request: Request, doc: dict[str, Any]) -> Any:
        return till.view(till.cancel(sid(request)))

    def sale(request: Request, doc: dict[str, Any]) -> Any:
        key = request.query_params.get("receipt", "")
        found = till.sale(key) if key else None
        if found is None:
            raise ReturnError("unknown_receipt", f"no sale {key}")
        txn = found["txn"]
        return {"receipt_id": found["receipt_id"], "kind": found["kind"], "txn_id": found["txn_id"],
                "at": txn["at"], "lines": txn["result"]["lines"], "totals": txn["result"]["totals"]}

    def returns(request: Request, doc: dict[str, Any]) -> Any:
        receipt = _field(doc, "receipt", str)
        items = _field(doc, "items", list)
        out = make_return(till, receipt, items)
        return {k: v for k, v in out.items()}

    def get_status(request: Request, doc: dict[str, Any]) -> Any:
        return status_fn()

    def sync(request: Request, doc: dict[str, Any]) -> Any:
        if sync_now is None:
            raise SessionError("no_ledger", "this till has no ledger configured")
        return sync_now()

    def reprint(request: Request, doc: dict[str, Any]) -> Any:
        return {"printed": till.print_pending(), "queued": till.print_queue()}

    async def events(request: Request) -> Response:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)

        def deliver(ev: dict[str, Any]) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, ev)
            except RuntimeError:  # loop closed
                pass

        till.events.add_callback(deliver)

        async def stream() -> Any:
            try:
                yield "retry: 1000\n\n"
                s = till.current()
                yield _sse({"type": "hello", "id": 0, "session": till.view(s) if s else None,
                            "status": await run_in_threadpool(status_fn)})
                while not stop.is_set():
                    try:
                        ev = await asyncio.wait_for(queue.get(), 0.5)
                    except asyncio.TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    yield _sse(ev)
            finally:
                till.events.remove_callback(deliver)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "cashier.html")

    async def root(request: Request) -> Response:
        return RedirectResponse("/cashier")

    routes = [
        Route("/", root),
        Route("/cashier", page),
        Route("/openapi.json", openapi),
        Route("/v1/status", handler(get_status)),
        Route("/v1/events", events),
        Route("/v1/sessions", handler(open_session, 201), methods=["POST"]),
        Route("/v1/sessions/current", handler(current)),
        Route("/v1/sessions/{sid}", handler(get_session)),
        Route("/v1/sessions/{sid}/lines", handler(add_line, inline=True), methods=["POST"]),
        Route("/v1/sessions/{sid}/lines/{index:int}", handler(set_qty, inline=True), methods=["PATCH"]),
        Route("/v1/sessions/{sid}/lines/{index:int}", handler(void, inline=True), methods=["DELETE"]),
        Route("/v1/sessions/{sid}/scan", handler(scan), methods=["POST"]),
        Route("/v1/sessions/{sid}/identify", handler(identify), methods=["POST"]),
        Route("/v1/sessions/{sid}/coupons", handler(add_coupon, inline=True), methods=["POST"]),
        Route("/v1/sessions/{sid}/coupons/{code}", handler(remove_coupon, inline=True), methods=["DELETE"]),
        Route("/v1/sessions/{sid}/redeem", handler(redeem), methods=["POST"]),
        Route("/v1/sessions/{sid}/pay", handler(pay), methods=["POST"]),
        Route("/v1/sessions/{sid}/cancel", handler(cancel), methods=["POST"]),
        Route("/v1/sales", handler(sale)),
        Route("/v1/returns", handler(returns, 201), methods=["POST"]),
        Route("/v1/print/retry", handler(reprint), methods=["POST"]),
        Route("/v1/sync/now", handler(sync), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes)


def _sse(event: dict[str, Any]) -> str:
    return f"event: {event.get('type', 'message')}\nid: {event.get('id', 0)}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
