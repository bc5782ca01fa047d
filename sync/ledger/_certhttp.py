"""Gift certificates over HTTP (docs/certificates.md, docs/sync-protocol.md).

- ``GET /v1/certificates/{cert_id}``: the certificate and its signed code.
  Head office sees any; a till only one it sold (to print its code on the
  receipt): any other is 404 ``unknown_certificate``, exactly as an id
  nobody has, so a till key cannot probe which ids exist.
- ``PUT /v1/certificates/{cert_id}`` (till key): a certificate the till has
  just sold, ``pending`` until its sale arrives, and its signed code to print
  on the receipt now (docs/certificates.md).
- ``POST /v1/certificates`` (office key): issue one at head office.
- ``POST /v1/certificates/{cert_id}/holds`` (till key): hold up to
  ``amount`` of its balance for one sale (the online tender).
- ``DELETE /v1/certificates/{cert_id}/holds/{hold_id}`` (till key): give it back.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import _validate as v
from ._certificates import CERT_ID, cert_of_hold
from ._errors import RequestError
from ._schemas import CertHoldBody, CertIssueBody, CertReserveBody, check
from ._tills import TillRecord


def _cert_id(request: Request) -> str:
    value = request.path_params["cert_id"]
    if not isinstance(value, str) or not CERT_ID.fullmatch(value):
        raise RequestError("unknown_certificate", "no such certificate", "cert_id")
    return value


async def show(request: Request) -> Response:
    from ._app import ledger_of, principal  # _app lists these routes: imported at call time

    who = await principal(request, "till", "office")
    cert_id = _cert_id(request)
    found = await run_in_threadpool(ledger_of(request).certificates.show, cert_id, with_code=True)
    if who.kind == "till" and (who.till is None or found.get("till") != who.till.till):
        raise RequestError("unknown_certificate", "no such certificate", "cert_id")
    return JSONResponse(found)


S = TypeVar("S", CertHoldBody, CertReserveBody)


async def _till_asks(request: Request, shape: type[S]) -> tuple[TillRecord, str, S, str]:
    """A till's request about one certificate: the till, the id, the checked body, its txn_id."""
    from ._app import _body, till_of

    till = await till_of(request)
    cert_id = _cert_id(request)
    body = v.obj(await _body(request))
    v.own(body, till, store=False)
    return till, cert_id, check(body, shape), v.txn_id(body)


async def reserve(request: Request) -> Response:
    from ._app import ledger_of

    till, cert_id, asked, txn_id = await _till_asks(request, CertReserveBody)
    answer: dict[str, Any] = await run_in_threadpool(
        ledger_of(request).certificates.reserve, till.till, till.store, cert_id, asked.sku, asked.face,
        asked.bundle_version, txn_id)
    return JSONResponse(answer)


async def issue(request: Request) -> Response:
    from ._app import _body, ledger_of, principal

    await principal(request, "office")
    asked = check(v.obj(await _body(request)), CertIssueBody)
    found = await run_in_threadpool(ledger_of(request).certificates.issue, asked.face, asked.ocap,
                                    asked.valid_days)
    return JSONResponse(found, status_code=201)


async def hold(request: Request) -> Response:
    from ._app import ledger_of

    till, cert_id, asked, txn_id = await _till_asks(request, CertHoldBody)
    answer: dict[str, Any] = await run_in_threadpool(
        ledger_of(request).certificates.hold, till.till, till.store, cert_id, asked.amount, txn_id)
    return JSONResponse(answer, status_code=201)


async def release(request: Request) -> Response:
    from ._app import ledger_of, till_of

    till = await till_of(request)
    cert_id = _cert_id(request)
    hold_id = v.ident(request.path_params["hold_id"], "hold_id")
    if cert_of_hold(hold_id) != cert_id:
        raise RequestError("unknown_hold", "no such hold", "hold_id")
    await run_in_threadpool(ledger_of(request).certificates.release, till.till, cert_id, hold_id)
    return JSONResponse({"released": True})


async def show_or_reserve(request: Request) -> Response:
    return await (reserve(request) if request.method == "PUT" else show(request))


Handler = Callable[[Request], Awaitable[Response]]
#: ``(path, methods, handler)`` rows for ``_app.ROUTES``
ROUTES: list[tuple[str, tuple[str, ...], Handler]] = [
    ("/v1/certificates", ("POST",), issue),
    ("/v1/certificates/{cert_id}", ("GET", "PUT"), show_or_reserve),
    ("/v1/certificates/{cert_id}/holds", ("POST",), hold),
    ("/v1/certificates/{cert_id}/holds/{hold_id}", ("DELETE",), release),
]


def openapi_paths() -> dict[str, Any]:
    """The certificate routes' part of the OpenAPI document."""
    from ._openapi import _body, _errors, _p, _resp  # _openapi lists these paths: imported at call time

    till: list[dict[str, list[str]]] = [{"tillKey": []}]
    cert = {"type": "object", "properties": {
        k: {"type": t} for k, t in (("cert_id", "string"), ("face", "integer"), ("balance", "integer"),
                                    ("held", "integer"), ("available", "integer"), ("state", "string"),
                                    ("expires_at", "string"), ("code", "string"), ("entries", "array"))}}
    cid = _p("cert_id", "8 to 64 letters, digits or '-'")
    return {
        "/v1/certificates": {"post": {
            "summary": "Issue a gift certificate at head office (office key)",
            "security": [{"officeKey": []}], "requestBody": _body("CertIssueBody"),
            "responses": {"201": _resp("the certificate with its signed code", cert),
                          **_errors(400, 401, 403)}}},
        "/v1/certificates/{cert_id}": {"get": {
            "summary": "A certificate and its signed code (office key; a till key: only one it sold, "
                       "else 404)", "security": [{"officeKey": []}, {"tillKey": []}],
            "parameters": [cid],
            "responses": {"200": _resp("the certificate", cert), **_errors(401, 403, 404)}},
            "put": {
            "summary": "A certificate this till has just sold, pending until its sale arrives: its "
                       "signed code to print now (the same sale asking again gets the same)",
            "security": till, "parameters": [cid], "requestBody": _body("CertReserveBody"),
            "responses": {"200": _resp("the id and code", cert), **_errors(400, 401, 403)}}},
        "/v1/certificates/{cert_id}/holds": {"post": {
            "summary": "Hold min(amount, available) of a certificate for one sale (online tender)",
            "security": till, "parameters": [cid], "requestBody": _body("CertHoldBody"),
            "responses": {"201": _resp("held", {"type": "object", "properties": {
                "hold_id": {"type": "string"}, "amount": {"type": "integer"},
                "remaining": {"type": "integer"}, "expires_at": {"type": "string"}}}),
                **_errors(400, 401, 403, 404, 409)}}},
        "/v1/certificates/{cert_id}/holds/{hold_id}": {"delete": {
            "summary": "Release a certificate hold", "security": till,
            "parameters": [cid, _p("hold_id")],
            "responses": {"200": _resp("released", {"type": "object"}),
                          **_errors(401, 403, 404, 409)}}},
    }
