"""The ledger's HTTP API (docs/sync-protocol.md) as a Starlette ASGI app.

Handlers only parse, authenticate and validate; the work happens in
``Ledger`` on a worker thread (the database calls block). Every refusal is
a ``RequestError`` turned into ``{"error", "detail", "field"?}`` with its 4xx
status, raised before anything is written. A database that is momentarily
unavailable answers ``503`` with ``Retry-After``, which the uploader honours.
"""
from __future__ import annotations

import json
import logging
import zlib
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import _validate as v
from ._clock import iso
from ._fastjson import fast_loads
from ._errors import LedgerError, RequestError, StorageError
from ._ledger import Ledger
from ._openapi import openapi
from ._tills import Till

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024 * 1024


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=headers)


async def _body(request: Request) -> Any:
    raw = await request.body()
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding == "gzip":
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            raw = d.decompress(raw, MAX_BODY + 1)
            if len(raw) > MAX_BODY:
                raise RequestError(413, "too_large", "the decompressed body is too large")
            if not d.eof:
                raise RequestError(400, "bad_encoding", "gzip body is truncated")
        except zlib.error as exc:
            raise RequestError(400, "bad_encoding", f"body is not valid gzip: {exc}") from exc
    elif encoding not in ("identity", ""):
        raise RequestError(415, "unsupported_encoding", f"Content-Encoding {encoding!r}")
    if len(raw) > MAX_BODY:
        raise RequestError(413, "too_large", "the body is too large")
    try:
        return fast_loads(raw)
    except ValueError:  # refused by the fast parser: the standard one decides, as before
        pass
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, "bad_json", f"the body is not JSON: {exc}") from exc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def make_app(ledger: Ledger) -> Starlette:
    """The ASGI app serving ``ledger``."""

    async def auth(request: Request) -> Till:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise RequestError(401, "unauthorized", "a till key is required (Bearer)")
        till = await run_in_threadpool(ledger.authenticate, key.strip())
        if till is None:
            raise RequestError(401, "unauthorized", "unknown till key")
        return till

    async def transactions(request: Request) -> Response:
        till = await auth(request)
        body = await _body(request)
        answer = await run_in_threadpool(ledger.upload, till, body)
        return _json(answer.to_json())

    async def heartbeat(request: Request) -> Response:
        till = await auth(request)
        body = v.obj(await _body(request))
        v.own(body, till, store=True)
        hb = v.heartbeat(body)
        await run_in_threadpool(ledger.heartbeat, till, hb)
        epoch = await run_in_threadpool(ledger.epoch)
        return _json({"server_time": iso(ledger.clock()), "epoch": epoch})

    async def holds(request: Request) -> Response:
        till = await auth(request)
        body = v.obj(await _body(request))
        v.own(body, till, store=False)
        if "store" in body and body["store"] != till.store:
            raise RequestError(403, "forbidden", f"this key belongs to store {till.store}",
                               "store")
        account = v.text(body, "account")
        points = v.count(body, "points", minimum=1)
        txn_id = v.txn_id(body)
        assert account is not None and points is not None
        hold = await run_in_threadpool(ledger.place_hold, till, account, points, txn_id)
        return _json(hold, 201)

    async def release(request: Request) -> Response:
        till = await auth(request)
        await run_in_threadpool(ledger.release_hold, till, request.path_params["hold_id"])
        return _json({"released": True})

    async def bundle(request: Request) -> Response:
        till = await auth(request)
        raw = request.query_params.get("since")
        since = None
        if raw is not None:
            if not raw.isascii() or not raw.isdigit():
                raise RequestError(400, "invalid", "since must be an integer >= 0", "since")
            since = int(raw)
        cursor = request.query_params.get("customers")
        if cursor is not None and (len(cursor) > 300 or not cursor.isprintable()):
            raise RequestError(400, "invalid", "customers is the cursor of the last answer",
                               "customers")
        answer = await run_in_threadpool(ledger.bundle_answer_text, since, till, cursor)
        if answer is None:
            raise RequestError(404, "no_bundle", "no bundle has been imported yet")
        return Response(answer, media_type="application/json")

    async def customer(request: Request) -> Response:
        await auth(request)
        card = v.card(request.path_params["card"])
        found = await run_in_threadpool(ledger.customer, card)
        if found is None:
            raise RequestError(404, "unknown_card", "no such card", "card")
        return _json(found)

    async def till_me(request: Request) -> Response:
        till = await auth(request)
        return _json(await run_in_threadpool(ledger.till_info, till))

    async def re_enrol(request: Request) -> Response:
        till = await auth(request)
        body = v.obj(await _body(request))
        v.own(body, till, store=True)
        return _json(await run_in_threadpool(ledger.re_enrol, till))

    async def tokens(request: Request) -> Response:
        await auth(request)
        body = v.obj(await _body(request))
        card = v.card(body.get("card"))
        token = await run_in_threadpool(ledger.issue_token, card)
        return _json({"token": token})

    async def time(request: Request) -> Response:
        return _json({"server_time": iso(ledger.clock())})

    async def keys(request: Request) -> Response:
        return _json(await run_in_threadpool(ledger.jwks))

    async def spec(request: Request) -> Response:
        return _json(openapi())

    async def on_request_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestError)
        return _json(exc.body(), exc.status)

    async def on_ledger_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LedgerError)
        if isinstance(exc, StorageError):
            log.error("storage unavailable: %s", exc)
            return _json({"error": "unavailable", "detail": "the ledger database is unavailable"},
                         503, {"Retry-After": "1"})
        return _json({"error": exc.reason, "detail": exc.message or exc.reason}, 400)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _json({"error": code, "detail": str(exc.detail)}, exc.status_code)

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.exception("request failed: %s %s", request.method, request.url.path)
        return _json({"error": "internal", "detail": "the ledger failed; retry later"}, 503,
                     {"Retry-After": "1"})

    routes = [
        Route("/v1/transactions", transactions, methods=["POST"]),
        Route("/v1/heartbeat", heartbeat, methods=["POST"]),
        Route("/v1/holds", holds, methods=["POST"]),
        Route("/v1/holds/{hold_id}", release, methods=["DELETE"]),
        Route("/v1/bundle", bundle, methods=["GET"]),
        Route("/v1/customers/{card}", customer, methods=["GET"]),
        Route("/v1/tokens", tokens, methods=["POST"]),
        Route("/v1/tills/me", till_me, methods=["GET"]),
        Route("/v1/tills/me/re-enrol", re_enrol, methods=["POST"]),
        Route("/v1/time", time, methods=["GET"]),
        Route("/v1/keys", keys, methods=["GET"]),
        Route("/openapi.json", spec, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(GZipMiddleware, minimum_size=2048, compresslevel=1)],
        exception_handlers={RequestError: on_request_error, LedgerError: on_ledger_error,
                            HTTPException: on_http, Exception: on_crash},
    )
