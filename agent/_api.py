"""The local HTTP API for the POS host and the cashier screen (127.0.0.1).

Every refusal is a specific 4xx with ``{"error": <reason>, "message":
<plain words>, "field"?}`` and changes nothing: the till validates first and
edits the journaled session only when everything is right.

- 400 ``bad_json`` / ``bad_request`` (with ``field``): the request itself.
- 401 ``no_token`` / ``bad_token``, 403 ``bad_host`` / ``bad_origin``, 415
  ``bad_media_type``: who may drive the till (``_security.py``, till.md §3).
- 404 ``unknown_session``, ``unknown_line``, ``unknown_sku``,
  ``unknown_receipt``, ``unknown_sale``, ``not_found`` (no such route).
- 409 ``session_open``, ``not_open``, ``bad_state``: not now.
- 422 a refused code (its reason, with the ``code``) or a value the sale
  cannot take (``bad_qty``, ``points_above_max``, ...).

Routes are one table at the end of ``create_app``: a new route is a function
``(request, doc) -> dict`` wrapped by ``handler`` and one ``Route`` line.
"""
from __future__ import annotations

import asyncio
import html
import json
import logging
import secrets
import threading
from pathlib import Path
from typing import Any, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ._errors import AgentError, ReturnError, SessionError, TokenError
from ._i18n import DEFAULT_LANGUAGE, texts
from ._logging import scrub
from ._openapi import openapi_document
from ._security import RequestGuard
from ._returns import make_return
from ._till import Till
from ._token import message_for

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")

_STATUS = {
    "unknown_session": 404, "unknown_line": 404, "unknown_sku": 404, "unknown_receipt": 404,
    "coupon_not_in_sale": 404,
    "unknown_sale": 404,
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
    "unknown_sale": "No committed sale for this session or txn_id: it was never paid (ring it again).",
    "points_above_max": "More points than can be spent on this sale.",
}


class BadRequest(Exception):
    def __init__(self, field: str, message: str, reason: str = "bad_request") -> None:
        super().__init__(message)
        self.field, self.message, self.reason = field, message, reason


#: The page's Content-Security-Policy: scripts, styles and requests from the
#: till itself only; no inline script, no plugins, no framing by other sites.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'self'")


class FieldRefused(SessionError):
    """A value the sale cannot take (422), naming the request field it is about."""

    def __init__(self, reason: str, message: str, field: str) -> None:
        super().__init__(reason, message)
        self.field = field


def _error(exc: Exception, code: str | None = None) -> JSONResponse:
    """The JSON refusal for ``exc``; ``code``: the scanned code it refused (till.md §1)."""
    if isinstance(exc, BadRequest):
        return JSONResponse({"error": exc.reason, "message": exc.message, "field": exc.field}, 400)
    if isinstance(exc, TokenError):
        body: dict[str, Any] = {"error": exc.reason, "message": message_for(exc.reason)}
    else:
        assert isinstance(exc, AgentError)
        body = {"error": exc.reason, "message": _WORDS.get(exc.reason, exc.message), "detail": exc.message}
        for extra in ("code", "field"):  # till.md §1: a refused code names the code
            if getattr(exc, extra, None) is not None:
                body[extra] = getattr(exc, extra)
    code = body.get("code", code)
    if code is not None:
        body["code"] = code
        body["code_shown"] = scrub(code)  # for screens: card numbers masked, tokens elided
    return JSONResponse(body, _STATUS.get(exc.reason, 422))


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


def _session_row(till: Till, sid: str) -> tuple[str, str] | None:
    """``(txn_id, state)`` of a session the till ever journaled, open or closed."""
    with till.db.lock:
        row = till.db.conn.execute("SELECT txn_id, state FROM agent_session WHERE id = ?", (sid,)).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def _sync_state(till: Till, txn_id: str) -> str | None:
    with till.db.lock:
        row = till.db.conn.execute("SELECT status FROM outbox WHERE txn_id = ?", (txn_id,)).fetchone()
    return None if row is None else str(row[0])


def render_page(token: str, language: str) -> str:
    """The cashier page with its texts and the API token in ``<meta>`` tags.

    Why meta tags: the page may not run inline script (CSP), and a token in a
    URL would end up in history and logs. Every value is HTML-escaped.
    """
    t = texts(language)
    page = (STATIC / "cashier.html").read_text(encoding="utf-8")
    values = {"lang": language, "token": token, "title": t["title"],
              "texts": json.dumps(t, ensure_ascii=False, separators=(",", ":"))}
    for key, value in values.items():
        page = page.replace("{{" + key + "}}", html.escape(value, quote=True))
    return page


def create_app(till: Till, status: Callable[[], dict[str, Any]] | None = None,
               closing: threading.Event | None = None,
               sync_now: Callable[[], dict[str, Any]] | None = None, *,
               token: str | None = None, language: str = DEFAULT_LANGUAGE) -> Starlette:
    """The ASGI app of one till's local API.

    ``token`` is the till's API token (``_security.load_or_create_token``);
    without one a random token is made (``app.state.api_token``), so there is
    no mode in which the API takes changes unauthenticated.
    """
    stop = closing or threading.Event()
    status_fn = status or till.status
    api_token = token or secrets.token_urlsafe(32)
    texts(language)  # a KeyError here is a programming error: config validates the language

    def handler(fn: Callable[..., Any], code: int = 200, inline: bool = False,
                echo_code: bool = False) -> Callable[[Request], Any]:
        """``inline``: the call never waits on the network (a basket edit:
        engine + one unsynced SQLite write), so it runs on the event loop and
        skips the thread hop; anything that may ask the ledger runs in a thread.
        ``echo_code``: a refusal carries the body's ``code`` (a scanned code)."""
        async def endpoint(request: Request) -> Response:
            doc: dict[str, Any] = {}
            try:
                doc = await _body(request) if request.method in ("POST", "PATCH", "PUT") else {}
                result = fn(request, doc) if inline else await run_in_threadpool(fn, request, doc)
            except (BadRequest, AgentError) as exc:
                code_ = doc.get("code") if echo_code and isinstance(doc.get("code"), str) else None
                return _error(exc, code_)
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
        if isinstance(points, int) and points < 0:
            raise BadRequest("points", "points is a whole number >= 0")
        s = till.get(sid(request))
        if isinstance(points, int) and points > 0 and s.customer is not None and s.state.value == "open":
            most = int(till.view(s)["spendable_points"])
            if points > most:
                raise FieldRefused("points_above_max", f"at most {most} points can be spent on this sale", "points")
        return till.view(till.redeem(s.id, points))

    def pay(request: Request, doc: dict[str, Any]) -> Any:
        method = _field(doc, "method", str, required=False, default="cash")
        if method not in ("cash", "card", "other"):
            raise BadRequest("method", "method is cash, card or other")
        return till.view(till.pay(sid(request), method))

    def cancel(request: Request, doc: dict[str, Any]) -> Any:
        return till.view(till.cancel(sid(request)))

    def sale(request: Request, doc: dict[str, Any]) -> Any:
        """A committed sale by ``receipt``, ``txn_id`` or ``session`` (till.md §4):
        a POS that lost the answer to "pay" asks here and never rings twice."""
        with till.lock:  # a "pay" in flight finishes first: the answer is definitive
            return _sale(request)

    def _sale(request: Request) -> Any:
        given = {k: request.query_params[k] for k in ("receipt", "txn_id", "session") if k in request.query_params}
        if len(given) != 1 or not next(iter(given.values())):
            raise BadRequest("receipt", "give exactly one of receipt, txn_id or session")
        (by, key), = given.items()
        state = None
        if by == "session":
            row = _session_row(till, key)
            if row is None:
                raise SessionError("unknown_sale", f"no session {key} on this till")
            txn_id, state = row
            found = till.sale(txn_id) if state in ("committed", "closed") else None
            if found is None:
                raise SessionError("unknown_sale", f"session {key} was never paid (state {state})")
        else:
            found = till.sale(key)
            if found is None or (by == "txn_id" and found["txn_id"] != key):
                if by == "receipt":
                    raise ReturnError("unknown_receipt", f"no sale {key}")
                raise SessionError("unknown_sale", f"no committed sale with txn_id {key}")
        txn = found["txn"]
        return {"receipt_id": found["receipt_id"], "kind": found["kind"], "txn_id": found["txn_id"],
                "seq": txn.get("seq"), "state": "committed", "sync": _sync_state(till, found["txn_id"]),
                "at": txn["at"], "mode": txn.get("mode"), "lines": txn["result"]["lines"],
                "totals": txn["result"]["totals"]}

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
        return HTMLResponse(render_page(api_token, language), headers={"Cache-Control": "no-store"})

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
        Route("/v1/sessions/{sid}/scan", handler(scan, echo_code=True), methods=["POST"]),
        Route("/v1/sessions/{sid}/identify", handler(identify, echo_code=True), methods=["POST"]),
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

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": reason, "message": str(exc.detail)}, exc.status_code)

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.exception("local API %s %s failed", request.method, request.url.path)
        return JSONResponse({"error": "internal", "message": "the till failed on this request; retry"}, 500)

    app = Starlette(routes=routes, middleware=[Middleware(RequestGuard, token=api_token, csp=CSP)],
                    exception_handlers={HTTPException: on_http, Exception: on_crash})
    app.state.api_token = api_token
    return app


def _sse(event: dict[str, Any]) -> str:
    return f"event: {event.get('type', 'message')}\nid: {event.get('id', 0)}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
