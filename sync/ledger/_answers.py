"""The ledger's HTTP answer to each error: one table, one function.

A refused request answers ``{"error": reason, "detail": message, "field"?}``
(plus the error's ``extra`` members) with the status its ``reason`` maps to
in ``HTTP_STATUS`` (docs/sync-protocol.md); so do the router's own refusals
(no such path: ``not_found``; a method the path does not take:
``method_not_allowed``, with ``Allow``). A storage failure and a crash
answer ``503`` with ``Retry-After``: the uploader's "try again later".
"""
from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException

from ._errors import LedgerError, RequestError, StorageError

#: the status of each reason a request is refused for
HTTP_STATUS: dict[str, int] = {
    "invalid": 400,
    "bad_json": 400,
    "bad_encoding": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "no_bundle": 404,
    "unknown_account": 404,
    "unknown_card": 404,
    "unknown_certificate": 404,
    "unknown_registration": 404,
    "wrong_card_prefix": 400,
    "registration_used": 409,
    "unknown_hold": 404,
    "unknown_receipt": 404,
    "unknown_till": 404,
    "unknown_txn": 404,
    "method_not_allowed": 405,
    "certificate_expired": 409,
    "certificate_not_active": 409,
    "certificate_spent": 409,
    "hold_closed": 409,
    "hold_consumed": 409,
    "insufficient_balance": 409,
    "favourite_too_soon": 409,
    "batch_too_large": 413,
    "too_large": 413,
    "too_many_values": 413,
    "unsupported_encoding": 415,
}
#: what a client is told when the ledger itself failed (the cause is logged)
UNAVAILABLE = {"error": "unavailable", "detail": "the ledger database is unavailable"}
INTERNAL = {"error": "internal", "detail": "the ledger failed; retry later"}
RETRY = {"Retry-After": "1"}

Answer = tuple[int, dict[str, Any], dict[str, str]]


def error_body(reason: str, message: str = "", field: str = "", **extra: Any) -> dict[str, Any]:
    """The JSON error body of docs/sync-protocol.md."""
    out: dict[str, Any] = {"error": reason, "detail": message or reason}
    if field:
        out["field"] = field
    out.update(extra)
    return out


def http_answer(exc: BaseException) -> Answer:
    """``(status, JSON body, headers)`` answering ``exc``."""
    if isinstance(exc, HTTPException):
        reason = {s: r for r, s in HTTP_STATUS.items()
                  if r in ("not_found", "method_not_allowed")}.get(exc.status_code, "http_error")
        return exc.status_code, error_body(reason, str(exc.detail)), dict(exc.headers or {})
    if isinstance(exc, RequestError):
        return (HTTP_STATUS.get(exc.reason, 400),
                error_body(exc.reason, exc.message, exc.field or "", **exc.extra), {})
    if isinstance(exc, StorageError):
        return 503, dict(UNAVAILABLE), dict(RETRY)
    if isinstance(exc, LedgerError):  # refused by the ledger's rules, outside a request check
        return 400, error_body(exc.reason, exc.message), {}
    return 503, dict(INTERNAL), dict(RETRY)
