"""The ledger's HTTP API (docs/sync-protocol.md) as a Starlette ASGI app.

Handlers are module-level functions of the request (each testable alone:
the ledger is ``request.app.state.ledger``) listed in ``ROUTES``; they only
parse, authenticate and validate, and the work happens in ``Ledger`` on a
worker thread (the database calls block). Every refusal is a
``RequestError``, raised before anything is written and answered as
``_answers.http_answer`` says; a database that is momentarily unavailable
answers ``503`` with ``Retry-After``, which the uploader honours. A method
a path does not take answers ``405`` with ``Allow``.
"""
from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio.to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fastcore import MAX_INT, mask_card

from . import _apikeys, _enrol, _favourite, _readers
from . import _validate as v
from ._apikeys import Principal
from ._clock import iso
from ._fastjson import fast_loads
from ._answers import http_answer
from ._errors import LedgerError, RequestError, StorageError
from ._holds import account_of
from ._ingest import MAX_BATCH
from ._ledger import Ledger
from ._limits import check_structure, count_transactions, has_control, parse_json, read_body
from ._openapi import openapi
from . import _certhttp, _report_http
from ._schemas import (EnrolBody, FavouriteBody, HoldBody, ReEnrolBody, RegistrationBody, TokenBody,
                       check)
from ._tills import TillRecord

log = logging.getLogger(__name__)

#: the largest body, as sent and once inflated (the uploader's 500-TXN batch is ~1-5 MB)
MAX_BODY = 32 * 1024 * 1024
#: the longest Authorization key looked at (keys are ~47 characters)
MAX_KEY = 512
#: worker threads of a server process (requests in flight, most waiting for a commit)
THREADS = 256
T = TypeVar("T")


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=headers)


async def _raw(request: Request) -> bytes:
    """The body bytes, inflated and measured (``_limits``: bounded memory)."""
    raw = await read_body(request, MAX_BODY)
    check_structure(raw)
    return raw


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _parse(raw: bytes) -> Any:
    return parse_json(raw, fast_loads, lambda r: json.loads(r, parse_constant=_no_constant))


async def _body(request: Request) -> Any:
    return _parse(await _raw(request))


def _read(led: Ledger, fn: Callable[..., T], *args: Any) -> T:
    """``fn(tx, *args)`` in one read transaction (run on a worker thread)."""
    with led.storage.transaction() as tx:
        return fn(tx, *args)


def _read_only(led: Ledger, fn: Callable[..., T], *args: Any) -> T:
    """``fn(tx, *args)`` on the ledger's read-only connection (not behind a commit)."""
    with led.reading() as tx:
        return fn(tx, *args)


def ledger_of(request: Request) -> Ledger:
    """The ledger the app serves (``app.state.ledger``)."""
    led: Ledger = request.app.state.ledger
    return led


async def principal(request: Request, *kinds: str) -> Principal:
    """Who is asking; 401 without a known key, 403 when its kind may not ask this."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise RequestError("unauthorized", "a key is required (Bearer)")
    if len(key) > MAX_KEY or has_control(key):
        raise RequestError("unauthorized", "unknown key")
    who = await run_in_threadpool(_read_only, ledger_of(request), _apikeys.authenticate, key)
    if who is None:
        raise RequestError("unauthorized", "unknown or revoked key")
    if who.kind not in kinds:
        raise RequestError("forbidden", f"a key of kind {who.kind!r} may not do this "
                           f"(it takes a {' or '.join(kinds)} key)")
    return who


async def till_of(request: Request) -> TillRecord:
    who = await principal(request, "till")
    assert who.till is not None
    return who.till


async def transactions(request: Request) -> Response:
    till = await till_of(request)
    raw = await _raw(request)
    n = count_transactions(raw)
    if n is not None and n > MAX_BATCH:  # refused before a single TXN is built
        raise RequestError("batch_too_large", f"at most {MAX_BATCH} transactions a batch",
                           "transactions")
    body = _parse(raw)
    v.txn_identifiers(body)
    answer = await run_in_threadpool(ledger_of(request).upload, till, body)
    return _json(answer.to_json())


async def heartbeat(request: Request) -> Response:
    till = await till_of(request)
    body = v.obj(await _body(request))
    v.own(body, till, store=True)
    hb = v.heartbeat(body)
    epoch = await run_in_threadpool(ledger_of(request).heartbeat, till, hb)
    return _json({"server_time": iso(ledger_of(request).clock()), "epoch": epoch})


async def holds(request: Request) -> Response:
    till = await till_of(request)
    body = v.obj(await _body(request))
    v.own(body, till, store=False)
    if "store" in body and body["store"] != till.store:
        raise RequestError("forbidden", f"this key belongs to store {till.store}",
                           "store")
    asked = check(body, HoldBody)
    txn_id = v.txn_id(body)  # a UUID (what uuid.UUID reads)
    hold = await run_in_threadpool(ledger_of(request).place_hold, till, asked.account,
                                   asked.points, txn_id)
    return _json(hold, 201)


async def release(request: Request) -> Response:
    till = await till_of(request)
    hold_id = v.ident(request.path_params["hold_id"], "hold_id")
    account = account_of(hold_id)
    if account is None or has_control(account):
        raise RequestError("unknown_hold", "no such hold", "hold_id")
    await run_in_threadpool(ledger_of(request).release_hold, till, request.path_params["hold_id"])
    return _json({"released": True})


async def bundle(request: Request) -> Response:
    who = await principal(request, "till", "office")
    since = None
    if request.query_params.get("since") is not None:
        since = v.query_int(request.query_params, "since", 0)
    cursor = request.query_params.get("customers")
    if cursor is not None and (len(cursor) > 300 or not cursor.isprintable()):
        raise RequestError("invalid", "customers is the cursor of the last answer",
                           "customers")
    answer = await run_in_threadpool(ledger_of(request).bundle_answer_text, since, who.till, cursor)
    if answer is None:
        raise RequestError("no_bundle", "no bundle has been imported yet")
    return Response(answer, media_type="application/json")


async def customer(request: Request) -> Response:
    await principal(request, "till", "office")
    card = v.card(request.path_params["card"])
    found = await run_in_threadpool(ledger_of(request).customer, card)
    if found is None:
        raise RequestError("unknown_card", "no such card", "card")
    return _json(found)


async def till_me(request: Request) -> Response:
    till = await till_of(request)
    return _json(await run_in_threadpool(ledger_of(request).till_info, till))


async def re_enrol(request: Request) -> Response:
    till = await till_of(request)
    body = v.obj(await _body(request))
    v.own(body, till, store=True)
    check(body, ReEnrolBody)
    return _json(await run_in_threadpool(ledger_of(request).re_enrol, till))


async def tokens(request: Request) -> Response:
    who = await principal(request, "app")  # never a till: it could spend anyone's points
    body = v.obj(await _body(request))
    check(body, TokenBody)
    card = v.card(body.get("card"))  # its check digit
    token = await run_in_threadpool(ledger_of(request).issue_token, card)
    log.info("token issued for card %s to app key %s", mask_card(card), who.name)
    return _json({"token": token})


async def favourite(request: Request) -> Response:
    """GET: the account's favourite category; PUT: the customer chooses it (``_favourite``)."""
    who = await principal(request, "app")  # the customer's own choice, through the app
    account = v.ident(request.path_params["account"], "account")
    led = ledger_of(request)
    if request.method == "GET":
        return _json(await run_in_threadpool(_read, led, _favourite.show, account,
                                             led.now_text()))
    body = check(v.obj(await _body(request)), FavouriteBody)
    answer = await run_in_threadpool(_read, led, _favourite.choose, account, body.category,
                                     led.now_text(), who.kind, who.name, led.storage.for_update)
    log.info("favourite of account %s set to %r by app key %s", account, body.category,
             who.name)
    return _json(answer)


async def enrolments(request: Request) -> Response:
    """A till enrols a new card now (docs/enrolment.md); its own till and store only."""
    till = await till_of(request)
    body = v.obj(await _body(request))
    v.own(body, till, store=False)
    if "store" in body and body["store"] != till.store:
        raise RequestError("forbidden", f"this key belongs to store {till.store}", "store")
    asked = check(body, EnrolBody)
    card = v.card(asked.card)  # its check digit
    answer = await run_in_threadpool(_enrol.online, ledger_of(request), till, card,
                                     asked.registration)
    log.info("card %s enrolled online by till %s: %s", mask_card(card), till.till,
             answer["enrolment"])
    return _json(answer)


async def registrations(request: Request) -> Response:
    """The app's back end opens a pending sign-up and gets its registration QR code."""
    who = await principal(request, "app")  # a till could otherwise link any card anywhere
    asked = check(v.obj(await _body(request)), RegistrationBody)
    answer = await run_in_threadpool(_enrol.register, ledger_of(request), asked.phone_hash)
    log.info("registration issued to app key %s", who.name)
    return _json(answer, 201)


# -- reading the ledger (office: everything; a till: its own sales only) --


async def till_transactions(request: Request) -> Response:
    who = await principal(request, "office", "till")
    till = v.ident(request.path_params["till"], "till")
    if who.till is not None and till != who.till.till:
        raise RequestError("forbidden", f"this key belongs to till {who.till.till}",
                           "till")
    q = request.query_params
    first = v.query_int(q, "from", 1)
    last = v.query_int(q, "to", MAX_INT, minimum=first)
    limit = v.query_int(q, "limit", _readers.DEFAULT_PAGE, minimum=1,
                        maximum=_readers.MAX_PAGE)
    page = await run_in_threadpool(_read, ledger_of(request), _readers.by_till, till, first, last, limit)
    if page is None:
        raise RequestError("unknown_till", "no such till", "till")
    return _json(page)


async def transaction(request: Request) -> Response:
    who = await principal(request, "office", "till")
    txn_id = v.txn_id({"txn_id": request.path_params["txn_id"]})
    own = who.till.till if who.till is not None else None
    found = await run_in_threadpool(_read, ledger_of(request), _readers.by_txn_id, txn_id, own)
    if not found:  # another till's txn_id answers like an unknown one: nothing leaks
        raise RequestError("unknown_txn", "no such transaction", "txn_id")
    return _json({"transactions": found})


async def receipt(request: Request) -> Response:
    who = await principal(request, "office", "till")
    till, seq = _readers.parse_receipt(
        f"{request.path_params['till']}/{request.path_params['seq']}")
    v.ident(till, "receipt")
    if who.till is not None and till != who.till.till:
        raise RequestError("forbidden", f"this key belongs to till {who.till.till}",
                           "receipt")
    found = await run_in_threadpool(_read, ledger_of(request), _readers.by_receipt, till, seq)
    if found is None:
        raise RequestError("unknown_receipt", "no such receipt", "receipt")
    return _json(found)


async def _account(request: Request) -> str:
    await principal(request, "office")
    if "card" in request.path_params:
        card = v.card(request.path_params["card"])
        found = await run_in_threadpool(_read, ledger_of(request), _readers.account_of, card)
        if found is None:
            raise RequestError("unknown_card", "no such card", "card")
        return found[0]
    account = v.ident(request.path_params["account"], "account")
    if await run_in_threadpool(_read, ledger_of(request), _readers.account_of, account, False) is None:
        raise RequestError("unknown_account", "no such account", "account")
    return account


async def balance(request: Request) -> Response:
    account = await _account(request)
    return _json(await run_in_threadpool(_read, ledger_of(request), _readers.balances, account, ledger_of(request).now_text()))


async def statement(request: Request) -> Response:
    account = await _account(request)
    q = request.query_params
    offset = v.query_int(q, "offset", 0)
    limit = v.query_int(q, "limit", _readers.DEFAULT_PAGE, minimum=1,
                        maximum=_readers.MAX_PAGE)
    return _json(await run_in_threadpool(_read, ledger_of(request), _readers.statement, account,
                                         ledger_of(request).now_text(), offset, limit))


async def time(request: Request) -> Response:
    return _json({"server_time": iso(ledger_of(request).clock())})


async def keys(request: Request) -> Response:
    return _json(await run_in_threadpool(ledger_of(request).jwks))


async def spec(request: Request) -> Response:
    return _json(openapi())


async def on_error(request: Request, exc: Exception) -> Response:
    """Every error's answer (``_answers.http_answer``); a crash is logged first."""
    status, body, headers = http_answer(exc)
    if isinstance(exc, StorageError):
        log.error("storage unavailable: %s", exc)
    elif not isinstance(exc, (LedgerError, HTTPException)):
        log.exception("request failed: %s %s", request.method, request.url.path)
    return _json(body, status, headers)


Handler = Callable[[Request], Awaitable[Response]]

#: ``(path, methods, handler)`` of every route; a new route is a new row
ROUTES: list[tuple[str, tuple[str, ...], Handler]] = [
    ("/v1/transactions", ("POST",), transactions),
    ("/v1/heartbeat", ("POST",), heartbeat),
    ("/v1/holds", ("POST",), holds),
    ("/v1/holds/{hold_id}", ("DELETE",), release),
    ("/v1/bundle", ("GET",), bundle),
    ("/v1/customers/{card}", ("GET",), customer),
    ("/v1/tokens", ("POST",), tokens),
    ("/v1/ledger/tills/{till}/transactions", ("GET",), till_transactions),
    ("/v1/ledger/transactions/{txn_id}", ("GET",), transaction),
    ("/v1/ledger/receipts/{till}/{seq}", ("GET",), receipt),
    ("/v1/ledger/accounts/{account}", ("GET",), balance),
    ("/v1/ledger/accounts/{account}/statement", ("GET",), statement),
    ("/v1/ledger/cards/{card}", ("GET",), balance),
    ("/v1/ledger/cards/{card}/statement", ("GET",), statement),
    ("/v1/tills/me", ("GET",), till_me),
    ("/v1/tills/me/re-enrol", ("POST",), re_enrol),
    ("/v1/time", ("GET",), time),
    ("/v1/keys", ("GET",), keys),
    ("/openapi.json", ("GET",), spec),
    *_report_http.ROUTES,  # GET /v1/reports/… (head office)
    ("/v1/accounts/{account}/favourite", ("GET", "PUT"), favourite),
    *_certhttp.ROUTES,  # /v1/certificates… (docs/certificates.md)
    ("/v1/enrolments", ("POST",), enrolments),  # docs/enrolment.md
    ("/v1/registrations", ("POST",), registrations),
]


def make_app(ledger: Ledger,
             routes: Sequence[tuple[str, tuple[str, ...], Handler]] = ROUTES) -> Starlette:
    """The ASGI app serving ``ledger`` (``routes``: the route table)."""
    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # A thread per request waiting for its group commit: the default 40
        # would cap a group at 40 requests, whatever the number of tills.
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        yield

    app = Starlette(
        lifespan=lifespan,
        routes=[Route(path, handler, methods=list(methods)) for path, methods, handler in routes],
        middleware=[Middleware(GZipMiddleware, minimum_size=2048, compresslevel=1)],
        exception_handlers={LedgerError: on_error, HTTPException: on_error, Exception: on_error},
    )
    app.state.ledger = ledger
    return app
