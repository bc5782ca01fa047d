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

Each endpoint is a module-level function ``(api, call) -> dict`` (testable
alone: a ``LocalApi`` and a ``Call`` are plain objects); ``ENDPOINTS`` is the
route table and ``HTTP_ANSWERS`` the one table from a refusal's reason to its
HTTP status and words. A 405 names the methods the path takes (``Allow``).
"""
from __future__ import annotations

import asyncio
import html
import json
import logging
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
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

from ._bodies import (AddLine, Enrol, Identify, Pay, Redeem, ReturnRequest, Scanned, SetQty, Tender,
                      decode_body)
from ._errors import AgentError, RequestRefused, ReturnError, SessionError, TokenError
from ._i18n import DEFAULT_LANGUAGE, texts
from fastcore import scrub
from ._openapi import openapi_document
from ._security import RequestGuard
from ._returns import make_return
from ._till import Till
from ._token import message_for

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")

#: The one table from a refusal's ``reason`` to its HTTP status and the
#: cashier's words (``None``: the error's own message). A reason not listed
#: is 400 for a ``RequestRefused`` and 422 otherwise (a value the sale cannot take).
HTTP_ANSWERS: dict[str, tuple[int, str | None]] = {
    "bad_json": (400, None),
    "bad_request": (400, None),
    "unknown_session": (404, None),
    "unknown_line": (404, None),
    "unknown_sku": (404, "This barcode is not in the catalogue. Type the price in the POS or call a supervisor."),
    "unknown_receipt": (404, "No sale with this receipt number on this till."),
    "coupon_not_in_sale": (404, None),
    "unknown_sale": (404, "No committed sale for this session or txn_id: it was never paid (ring it again)."),
    "session_open": (409, "A sale is already open on this till."),
    "not_open": (409, "This sale is already paid or cancelled."),
    "bad_state": (409, None),
    "bad_qty": (422, "That quantity is not possible for this item."),
    "unknown_card": (422, "This card is not known at this store. Sell without the card."),
    # docs/enrolment.md
    "not_a_card": (422, "This is not a loyalty card number (13 digits)."),
    "wrong_card_prefix": (422, "This card is not one of our programme's cards: it cannot be enrolled."),
    "enrolment_off": (409, "Cards are not enrolled at the till in this programme."),
    "ledger_unavailable": (503, "Head office does not answer and cards are enrolled online only: sell "
                                "without the card."),
    "no_customer": (422, "Scan the customer's app code or card first."),
    "empty": (422, "Scan at least one item before payment."),
    "too_much": (422, "More than what is left on the receipt."),
    "certificate_not_returnable": (422, "A gift certificate is not returned at the till."),
    "points_above_max": (422, "More points than can be spent on this sale."),
}

#: The page's Content-Security-Policy: scripts, styles and requests from the
#: till itself only; no inline script, no plugins, no framing by other sites.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'self'")


def http_answer(exc: AgentError, code: str | None = None) -> tuple[int, dict[str, Any]]:
    """The status and JSON body refusing with ``exc``; ``code``: the scanned code it refused (till.md §1)."""
    status, words = HTTP_ANSWERS.get(exc.reason, (400 if isinstance(exc, RequestRefused) else 422, None))
    if isinstance(exc, RequestRefused):
        return status, {"error": exc.reason, "message": exc.message, "field": exc.field}
    if isinstance(exc, TokenError):
        body: dict[str, Any] = {"error": exc.reason, "message": message_for(exc.reason)}
    else:
        body = {"error": exc.reason, "message": words or exc.message, "detail": exc.message}
        for extra in ("code", "field"):  # till.md §1: a refused code names the code
            if getattr(exc, extra, None) is not None:
                body[extra] = getattr(exc, extra)
        if exc.extra.get("enrol") is True:  # an unknown card the cashier may enrol
            body["enrol"] = True
            body["message"] = "This card is new: enrol it (the customer joins now), or sell without the card."
    code = body.get("code", code)
    if code is not None:
        body["code"] = code
        body["code_shown"] = scrub(code)  # for screens: card numbers masked, tokens elided
    return status, body


def _read_body(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise RequestRefused("bad_json", f"not JSON: {exc}", field="body") from exc
    if not isinstance(doc, dict):
        raise RequestRefused("bad_request", "the body must be a JSON object", field="body")
    return doc


@dataclass
class LocalApi:
    """What the endpoints of one till's local API work with."""

    till: Till
    status: Callable[[], dict[str, Any]]
    sync_now: Callable[[], dict[str, Any]] | None = None
    closing: threading.Event = field(default_factory=threading.Event)
    token: str = ""
    language: str = DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Call:
    """One request as an endpoint sees it: path parameters, query, JSON body."""

    path: Mapping[str, Any] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sid(self) -> str:
        return str(self.path["sid"])

    @property
    def index(self) -> int:
        return int(self.path["index"])


Handler = Callable[[LocalApi, Call], Any]

# ---------------------------------------------------------------- endpoints


def open_session(api: LocalApi, call: Call) -> Any:
    return api.till.view(api.till.open_session())


def current_session(api: LocalApi, call: Call) -> Any:
    s = api.till.current()
    if s is None:
        raise SessionError("unknown_session", "no open sale")
    return api.till.view(s)


def get_session(api: LocalApi, call: Call) -> Any:
    return api.till.view(api.till.get(call.sid))


def add_line(api: LocalApi, call: Call) -> Any:
    body = decode_body(call.body, AddLine)
    return api.till.view(api.till.add_line(call.sid, body.sku, body.qty))


def set_qty(api: LocalApi, call: Call) -> Any:
    return api.till.view(api.till.set_qty(call.sid, call.index, decode_body(call.body, SetQty).qty))


def void_line(api: LocalApi, call: Call) -> Any:
    return api.till.view(api.till.void_line(call.sid, call.index))


def scan(api: LocalApi, call: Call) -> Any:
    code = decode_body(call.body, Scanned).code
    till = api.till
    s = till.get(call.sid)
    routed, changed = till.scan(s.id, code)
    view = till.view(changed or s)
    view["scanned"] = {"kind": routed.kind}
    if routed.kind == "receipt":
        view["scanned"].update(receipt_id=routed.code, found=till.sale(routed.code) is not None)
    return view


def add_coupon(api: LocalApi, call: Call) -> Any:
    return api.till.view(api.till.add_coupon(call.sid, decode_body(call.body, Scanned).code))


def remove_coupon(api: LocalApi, call: Call) -> Any:
    return api.till.view(api.till.remove_coupon(call.sid, str(call.path["code"])))


def identify(api: LocalApi, call: Call) -> Any:
    return api.till.view(api.till.identify(call.sid, decode_body(call.body, Identify).code))


def tender(api: LocalApi, call: Call) -> Any:
    return api.till.view(api.till.tender(call.sid, decode_body(call.body, Tender).code))


def enrol(api: LocalApi, call: Call) -> Any:
    return api.till.view(api.till.enrol(call.sid, decode_body(call.body, Enrol).card))


def registration(api: LocalApi, call: Call) -> Any:
    return api.till.view(api.till.registration(call.sid, decode_body(call.body, Scanned).code))


def redeem(api: LocalApi, call: Call) -> Any:
    points = decode_body(call.body, Redeem).points
    till = api.till
    s = till.get(call.sid)
    if isinstance(points, int) and points > 0 and s.customer is not None and s.state.value == "open":
        most = int(till.view(s)["spendable_points"])
        if points > most:
            raise SessionError("points_above_max", f"at most {most} points can be spent on this sale",
                               field="points")
    return till.view(till.redeem(s.id, points))


def pay(api: LocalApi, call: Call) -> Any:
    return api.till.view(api.till.pay(call.sid, decode_body(call.body, Pay).method))


def cancel(api: LocalApi, call: Call) -> Any:
    return api.till.view(api.till.cancel(call.sid))


def _session_row(till: Till, sid: str) -> tuple[str, str] | None:
    """``(txn_id, state)`` of a session the till ever journaled, open or closed."""
    with till.db.lock:
        row = till.db.conn.execute("SELECT txn_id, state FROM agent_session WHERE id = ?", (sid,)).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def _sync_state(till: Till, txn_id: str) -> str | None:
    with till.db.lock:
        row = till.db.conn.execute("SELECT status FROM outbox WHERE txn_id = ?", (txn_id,)).fetchone()
    return None if row is None else str(row[0])


def _find_sale(till: Till, by: str, key: str) -> dict[str, Any]:
    if by == "session":
        row = _session_row(till, key)
        if row is None:
            raise SessionError("unknown_sale", f"no session {key} on this till")
        txn_id, state = row
        found = till.sale(txn_id) if state in ("committed", "closed") else None
        if found is None:
            raise SessionError("unknown_sale", f"session {key} was never paid (state {state})")
        return found
    found = till.sale(key)
    if found is None or (by == "txn_id" and found["txn_id"] != key):
        if by == "receipt":
            raise ReturnError("unknown_receipt", f"no sale {key}")
        raise SessionError("unknown_sale", f"no committed sale with txn_id {key}")
    return found


def sale(api: LocalApi, call: Call) -> Any:
    """A committed sale by ``receipt``, ``txn_id`` or ``session`` (till.md §4):
    a POS that lost the answer to "pay" asks here and never rings twice."""
    given = {k: call.query[k] for k in ("receipt", "txn_id", "session") if k in call.query}
    if len(given) != 1 or not next(iter(given.values())):
        raise RequestRefused("bad_request", "give exactly one of receipt, txn_id or session", field="receipt")
    (by, key), = given.items()
    till = api.till
    with till.lock:  # a "pay" in flight finishes first: the answer is definitive
        found = _find_sale(till, by, key)
        txn = found["txn"]
        return {"receipt_id": found["receipt_id"], "kind": found["kind"], "txn_id": found["txn_id"],
                "seq": txn.get("seq"), "state": "committed", "sync": _sync_state(till, found["txn_id"]),
                "at": txn["at"], "mode": txn.get("mode"), "lines": txn["result"]["lines"],
                "totals": txn["result"]["totals"]}


def return_items(api: LocalApi, call: Call) -> Any:
    body = decode_body(call.body, ReturnRequest)
    return dict(make_return(api.till, body.receipt, body.items))


def get_status(api: LocalApi, call: Call) -> Any:
    return api.status()


def sync_now(api: LocalApi, call: Call) -> Any:
    if api.sync_now is None:
        raise SessionError("no_ledger", "this till has no ledger configured")
    return api.sync_now()


def retry_prints(api: LocalApi, call: Call) -> Any:
    return {"printed": api.till.print_pending(), "queued": api.till.print_queue()}


@dataclass(frozen=True)
class Endpoint:
    """One line of the route table.

    ``inline``: the call never waits on the network (a basket edit: engine +
    one unsynced SQLite write), so it runs on the event loop and skips the
    thread hop; anything that may ask the ledger runs in a thread.
    ``echo_code``: a refusal carries the body's ``code`` (a scanned code).
    """

    method: str
    path: str
    handler: Handler
    status: int = 200
    inline: bool = False
    echo_code: bool = False


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/v1/status", get_status),
    Endpoint("POST", "/v1/sessions", open_session, 201),
    Endpoint("GET", "/v1/sessions/current", current_session),
    Endpoint("GET", "/v1/sessions/{sid}", get_session),
    Endpoint("POST", "/v1/sessions/{sid}/lines", add_line, inline=True),
    Endpoint("PATCH", "/v1/sessions/{sid}/lines/{index:int}", set_qty, inline=True),
    Endpoint("DELETE", "/v1/sessions/{sid}/lines/{index:int}", void_line, inline=True),
    Endpoint("POST", "/v1/sessions/{sid}/scan", scan, echo_code=True),
    Endpoint("POST", "/v1/sessions/{sid}/identify", identify, echo_code=True),
    Endpoint("POST", "/v1/sessions/{sid}/coupons", add_coupon, inline=True),
    Endpoint("DELETE", "/v1/sessions/{sid}/coupons/{code}", remove_coupon, inline=True),
    Endpoint("POST", "/v1/sessions/{sid}/certificates", tender, echo_code=True),
    Endpoint("POST", "/v1/sessions/{sid}/enrol", enrol, echo_code=True),
    Endpoint("POST", "/v1/sessions/{sid}/registration", registration, echo_code=True),
    Endpoint("POST", "/v1/sessions/{sid}/redeem", redeem),
    Endpoint("POST", "/v1/sessions/{sid}/pay", pay),
    Endpoint("POST", "/v1/sessions/{sid}/cancel", cancel),
    Endpoint("GET", "/v1/sales", sale),
    Endpoint("POST", "/v1/returns", return_items, 201),
    Endpoint("POST", "/v1/print/retry", retry_prints),
    Endpoint("POST", "/v1/sync/now", sync_now),
)


def _dispatch(endpoints: list[Endpoint]) -> Callable[[Request], Any]:
    """One Starlette endpoint for every method of one path."""
    by_method = {e.method: e for e in endpoints}

    async def endpoint(request: Request) -> Response:
        ep = by_method.get(request.method) or by_method["GET"]  # HEAD answers as GET
        api: LocalApi = request.app.state.api
        doc: dict[str, Any] = {}
        try:
            if request.method in ("POST", "PATCH", "PUT"):
                doc = _read_body(await request.body())
            call = Call(dict(request.path_params), dict(request.query_params), doc)
            result = ep.handler(api, call) if ep.inline else await run_in_threadpool(ep.handler, api, call)
        except AgentError as exc:
            code = doc.get("code") if ep.echo_code and isinstance(doc.get("code"), str) else None
            status, body = http_answer(exc, code)
            return JSONResponse(body, status)
        return JSONResponse(result, ep.status)

    return endpoint


def _api_routes() -> list[Route]:
    paths: dict[str, list[Endpoint]] = {}
    for e in ENDPOINTS:
        paths.setdefault(e.path, []).append(e)
    return [Route(path, _dispatch(eps), methods=[e.method for e in eps]) for path, eps in paths.items()]


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


async def events(request: Request) -> Response:
    """Server-sent events: the hello (open sale and status), then every event of the till."""
    api: LocalApi = request.app.state.api
    till = api.till
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
                        "status": await run_in_threadpool(api.status)})
            while not api.closing.is_set():
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


async def cashier_page(request: Request) -> Response:
    api: LocalApi = request.app.state.api
    return HTMLResponse(render_page(api.token, api.language), headers={"Cache-Control": "no-store"})


async def root(request: Request) -> Response:
    return RedirectResponse("/cashier")


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse({"error": reason, "message": str(exc.detail)}, exc.status_code, headers=exc.headers)


async def _on_crash(request: Request, exc: Exception) -> Response:
    log.exception("local API %s %s failed", request.method, request.url.path)
    return JSONResponse({"error": "internal", "message": "the till failed on this request; retry"}, 500)


def create_app(till: Till, status: Callable[[], dict[str, Any]] | None = None,
               closing: threading.Event | None = None,
               sync_now: Callable[[], dict[str, Any]] | None = None, *,
               token: str | None = None, language: str = DEFAULT_LANGUAGE) -> Starlette:
    """The ASGI app of one till's local API.

    ``token`` is the till's API token (``_security.load_or_create_token``);
    without one a random token is made (``app.state.api_token``), so there is
    no mode in which the API takes changes unauthenticated.
    """
    texts(language)  # a KeyError here is a programming error: config validates the language
    api = LocalApi(till, status or till.status, sync_now, closing or threading.Event(),
                   token or secrets.token_urlsafe(32), language)
    routes: list[Route | Mount] = [
        Route("/", root),
        Route("/cashier", cashier_page),
        Route("/openapi.json", openapi),
        Route("/v1/events", events),
        *_api_routes(),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(RequestGuard, token=api.token, csp=CSP)],
                    exception_handlers={HTTPException: _on_http, Exception: _on_crash})
    app.state.api = api
    app.state.api_token = api.token
    return app


def _sse(event: dict[str, Any]) -> str:
    return (f"event: {event.get('type', 'message')}\nid: {event.get('id', 0)}\n"
            f"data: {json.dumps(event, ensure_ascii=False)}\n\n")
