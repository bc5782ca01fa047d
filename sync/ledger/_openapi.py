"""The OpenAPI 3.1 document served at ``GET /openapi.json``.

The request bodies and the TXN are generated from the Structs the API
checks them with (``_schemas``, via ``msgspec.json.schema_components``), so
the document states the rules the ledger enforces; the answers are written
here next to docs/sync-protocol.md (the normative text). Tests check that
every route of the app is described here and vice versa, and that a request
built valid from this document is not refused as invalid.
"""
from __future__ import annotations

from typing import Any

import msgspec

from ._schemas import CARD_EXAMPLE, SCHEMAS, UUID_EXAMPLE
from ._report_http import openapi_paths
from . import _certhttp

_ERROR = {"$ref": "#/components/schemas/Error"}


def _resp(desc: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": desc}
    if schema is not None:
        out["content"] = {"application/json": {"schema": schema}}
    return out


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "invalid body (nothing changed)", 401: "missing, unknown or revoked key",
            403: "this kind of key may not do this, or it belongs to another till or store",
            404: "not found", 409: "conflict",
            413: "too large (bytes, values or transactions)", 415: "unsupported Content-Encoding",
            503: "unavailable; retry after Retry-After seconds"}
    return {str(c): _resp(text[c], _ERROR) for c in codes}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{name}"}}}}


def _generated() -> dict[str, Any]:
    """The schemas of ``_schemas.SCHEMAS`` and the Structs they use, by name."""
    _, components = msgspec.json.schema_components(
        SCHEMAS, ref_template="#/components/schemas/{name}")
    return components


_S = {"type": "string"}
_I = {"type": "integer"}
_TILL_ERRORS = (400, 401, 403, 503)


def _q(name: str, desc: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": desc,
            "schema": {"type": "integer", **schema}}


def _p(name: str, desc: str = "", schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": desc,
            "schema": schema or _S}


#: a card in a path: the pattern of ``_schemas.Card``, with an example
_CARD = {"type": "string", "pattern": "^[0-9]{13}$", "examples": [CARD_EXAMPLE],
         "description": "EAN-13 (the last digit is its check digit)"}


_FAVOURITE_ANSWER = _resp("the favourite, when it may next change, the programme's choices "
                          "and the history of changes", {"type": "object", "properties": {
                              "account": _S, "category": {"type": ["string", "null"]},
                              "changed_at": {"type": ["string", "null"]},
                              "next_change_at": _S,
                              "choices": {"type": "array", "items": _S},
                              "history": {"type": "array", "items": {"type": "object"}}}})
_FAVOURITE = {
    "get": {"summary": "An account's favourite category and when it may next change (app key)",
            "security": [{"appKey": []}], "parameters": [_p("account")],
            "responses": {"200": _FAVOURITE_ANSWER, **_errors(400, 401, 403, 404)}},
    "put": {"summary": "The customer chooses the favourite category (app key; at most once "
                       "per program.favorite_change_days, default 30: else 409 "
                       "favourite_too_soon with next_change_at)",
            "security": [{"appKey": []}], "parameters": [_p("account")],
            "requestBody": _body("FavouriteBody"),
            "responses": {"200": _FAVOURITE_ANSWER, **_errors(400, 401, 403, 404, 409)}},
}


_SALE = {"type": "object", "properties": {
    "receipt": {"type": "string", "description": "<till>/<seq>, as printed"}, "till": _S,
    "store": _S, "seq": _I, "txn_id": _S, "kind": _S, "at": _S, "mode": _S, "account": _S,
    "received_at": _S, "original_txn_id": {"type": ["string", "null"]},
    "hold_id": {"type": ["string", "null"]}, "outcome": {"type": "object"},
    "txn": {"type": "object", "description": "the TXN as uploaded (single look-ups only)"}}}
_BALANCE: dict[str, Any] = {"type": "object", "properties": {
    "account": _S, "balance": _I, "held": _I,
    "pending": {"type": "integer", "description": "points earned within program.hold_days "
                "(the return window): in the balance, not yet spendable"},
    "available": {"type": "integer", "description": "balance - pending - held; below 0 after "
                  "an offline overdraft"}, "holds": {"type": "array", "items": {"type": "object"}}}}
_STATEMENT = {"type": "object", "properties": {
    **_BALANCE["properties"], "offset": _I, "total_entries": _I,
    "next_offset": {"type": ["integer", "null"]},
    "entries": {"type": "array", "items": {"type": "object", "properties": {
        "at": _S, "kind": _S, "points": _I, "balance": _I, "txn_id": {"type": ["string", "null"]},
        "receipt": {"type": ["string", "null"]}, "note": {"type": ["string", "null"]},
        "entry_id": _S}}},
    "tier": {"type": ["string", "null"]},
    "tiers": {"type": "array", "description": "every tier change, oldest first",
              "items": {"type": "object"}},
    "lots": {"type": "array", "description": "points lots with points left, oldest first "
             "(pending_until, expires_at)", "items": {"type": "object"}},
    "expiring": {"type": "object", "description": "points the expiry job would remove within "
                 "30 days (points, by)"}}}
_PAGE = _q("limit", "rows per page", minimum=1, maximum=500, default=100)


def openapi() -> dict[str, Any]:
    """The document (a fresh dict each call)."""
    secured: list[dict[str, list[str]]] = [{"tillKey": []}]
    reader: list[dict[str, list[str]]] = [{"officeKey": []}, {"tillKey": []}]
    office: list[dict[str, list[str]]] = [{"officeKey": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "kopilka central ledger", "version": "1",
                 "description": "Till ⇄ ledger protocol v1 (docs/sync-protocol.md). Request "
                                "bodies may be sent with Content-Encoding: gzip."},
        "components": {
            "securitySchemes": {
                "tillKey": {"type": "http", "scheme": "bearer",
                            "description": "per-till key from `kopilka ledger till add`"},
                "appKey": {"type": "http", "scheme": "bearer",
                           "description": "the app back end's key from `kopilka ledger app-key "
                                          "add`: issues tokens, nothing else"},
                "officeKey": {"type": "http", "scheme": "bearer",
                              "description": "head office's key from `kopilka ledger "
                                             "office-key add`: reads the whole ledger"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "detail"],
                          "properties": {"error": _S, "detail": _S, "field": _S}},
                "TxnResult": {"type": "object", "required": ["txn_id", "seq", "status"],
                              "properties": {"txn_id": {}, "seq": {},
                                             "status": {"enum": ["accepted", "duplicate",
                                                                 "rejected"]},
                                             "reason": {"enum": ["seq_conflict",
                                                                 "txn_id_conflict", "bad_store",
                                                                 "invalid", "unknown_original",
                                                                 "overdraft"]},
                                             "detail": _S, "field": _S,
                                             "journal": {"type": "object"},
                                             "audit": _S, "original": {"type": "object"}}},
                **_generated(),
            },
        },
        "paths": {
            "/v1/transactions": {"post": {
                "summary": "Upload a batch of till transactions", "security": secured,
                "requestBody": _body("UploadBody"),
                "responses": {"200": _resp("per-transaction results, after a durable commit", {
                    "type": "object", "required": ["results", "high_water", "epoch"],
                    "properties": {"results": {"type": "array", "items": {
                        "$ref": "#/components/schemas/TxnResult"}},
                        "high_water": _I, "epoch": _S}}),
                    **_errors(*_TILL_ERRORS, 413, 415)}}},
            "/v1/heartbeat": {"post": {
                "summary": "Till health: queue, bundle and agent versions, hardware",
                "security": secured,
                "requestBody": _body("HeartbeatBody"),
                "responses": {"200": _resp("stored", {"type": "object", "properties": {
                    "server_time": _S, "epoch": _S}}), **_errors(*_TILL_ERRORS, 415)}}},
            "/v1/holds": {"post": {
                "summary": "Hold points for an online redemption", "security": secured,
                "requestBody": _body("HoldBody"),
                "responses": {"201": _resp("held", {"type": "object", "properties": {
                    "hold_id": _S, "points": _I, "expires_at": _S}}),
                    "409": _resp("insufficient_balance (with available, and pending and "
                                 "available_from when pending points are missing) or "
                                 "hold_closed", _ERROR),
                    **_errors(*_TILL_ERRORS, 404)}}},
            "/v1/holds/{hold_id}": {"delete": {
                "summary": "Release a hold", "security": secured,
                "parameters": [{"name": "hold_id", "in": "path", "required": True,
                                "schema": _S}],
                "responses": {"200": _resp("released", {"type": "object"}),
                              **_errors(401, 403, 404, 409)}}},
            "/v1/bundle": {"get": {
                "summary": "Bundle changes since a version", "security": reader,
                "parameters": [{"name": "since", "in": "query", "required": False,
                                "schema": {"type": "integer", "minimum": 0}},
                               {"name": "customers", "in": "query", "required": False,
                                "schema": {"type": "string", "maxLength": 300}}],
                "responses": {"200": _resp("none, delta or full", {"type": "object", "properties": {
                    "kind": {"enum": ["none", "delta", "full"]}, "version": _I, "from": _I,
                    "changes": {"type": "object"}, "bundle": {"type": "object"},
                    "customers": {"type": "object"}}}),
                    **_errors(400, 401, 404)}}},
            "/v1/customers/{card}": {"get": {
                "summary": "A card's profile and available balance", "security": reader,
                "parameters": [_p("card", "EAN-13", _CARD)],
                "responses": {"200": _resp("the customer", {"type": "object"}),
                              **_errors(400, 401, 404)}}},
            "/v1/tokens": {"post": {
                "summary": "Issue the app's signed loyalty token (JWS, EdDSA); a till key "
                           "gets 403", "security": [{"appKey": []}],
                "requestBody": _body("TokenBody"),
                "responses": {"200": _resp("the token", {"type": "object", "properties": {
                    "token": _S}}), **_errors(400, 401, 403, 404)}}},
            "/v1/ledger/tills/{till}/transactions": {"get": {
                "summary": "A till's applied transactions by seq range, oldest first (a till "
                           "key: its own till only, another is 403)", "security": reader,
                "parameters": [_p("till"), _q("from", "first seq", minimum=0, default=1),
                               _q("to", "last seq", minimum=0), _PAGE],
                "responses": {"200": _resp("a page; next_from is the next page's from", {
                    "type": "object", "properties": {
                        "till": _S, "store": _S, "high_water": _I, "max_seq": _I,
                        "transactions": {"type": "array", "items": _SALE},
                        "next_from": {"type": ["integer", "null"]}}}),
                    **_errors(400, 401, 403, 404)}}},
            "/v1/ledger/transactions/{txn_id}": {"get": {
                "summary": "The sales stored under a txn_id (a till key: its own only; another "
                           "till's answers 404 like an unknown one)", "security": reader,
                "parameters": [_p("txn_id", "a UUID", {"type": "string", "format": "uuid", "examples": [UUID_EXAMPLE]})],
                "responses": {"200": _resp("found", {"type": "object", "properties": {
                    "transactions": {"type": "array", "items": _SALE}}}),
                    **_errors(400, 401, 403, 404)}}},
            "/v1/ledger/receipts/{till}/{seq}": {"get": {
                "summary": "The sale printed as receipt <till>/<seq> (a till key: its own "
                           "till only, another is 403)", "security": reader,
                "parameters": [_p("till"), _p("seq", "digits")],
                "responses": {"200": _resp("the sale", _SALE), **_errors(400, 401, 403, 404)}}},
            "/v1/ledger/accounts/{account}": {"get": {
                "summary": "Raw and available balance of an account, with its active holds",
                "security": office, "parameters": [_p("account")],
                "responses": {"200": _resp("balances", _BALANCE),
                              **_errors(400, 401, 403, 404)}}},
            "/v1/ledger/accounts/{account}/statement": {"get": {
                "summary": "Every journal entry, oldest first, with receipt and running balance",
                "security": office,
                "parameters": [_p("account"), _q("offset", "entries to skip", minimum=0), _PAGE],
                "responses": {"200": _resp("a page of the statement", _STATEMENT),
                              **_errors(400, 401, 403, 404)}}},
            "/v1/ledger/cards/{card}": {"get": {
                "summary": "Balances of the card's account", "security": office,
                "parameters": [_p("card", "EAN-13", _CARD)],
                "responses": {"200": _resp("balances", _BALANCE),
                              **_errors(400, 401, 403, 404)}}},
            "/v1/ledger/cards/{card}/statement": {"get": {
                "summary": "The statement of the card's account", "security": office,
                "parameters": [_p("card", "EAN-13", _CARD),
                               _q("offset", "entries to skip", minimum=0), _PAGE],
                "responses": {"200": _resp("a page of the statement", _STATEMENT),
                              **_errors(400, 401, 403, 404)}}},
            "/v1/tills/me": {"get": {
                "summary": "The till's seqs as the ledger holds them", "security": secured,
                "responses": {"200": _resp("the till", {"type": "object"}), **_errors(401)}}},
            "/v1/tills/me/re-enrol": {"post": {
                "summary": "Record the re-enrolment of a wiped till; answer its seqs",
                "security": secured,
                "requestBody": _body("ReEnrolBody"),
                "responses": {"200": _resp("the till", {"type": "object"}),
                              **_errors(400, 401, 403)}}},
            "/v1/time": {"get": {"summary": "The ledger clock",
                                 "responses": {"200": _resp("now", {"type": "object"})}}},
            "/v1/keys": {"get": {"summary": "The token public keys (JWKS)",
                                 "responses": {"200": _resp("JWKS", {"type": "object"})}}},
            "/openapi.json": {"get": {"summary": "This document",
                                      "responses": {"200": _resp("OpenAPI 3.1")}}},
            **openapi_paths(),  # GET /v1/reports/… (_report_http)
            "/v1/accounts/{account}/favourite": _FAVOURITE,
            **_certhttp.openapi_paths(),  # /v1/certificates… (docs/certificates.md)
            "/v1/enrolments": {"post": {
                "summary": "Enrol a new card now (docs/enrolment.md): its account is created, "
                           "or it is the card's own; answers the card's profile",
                "security": secured, "requestBody": _body("EnrolBody"),
                "responses": {"200": _resp("the card's profile, with enrolment "
                                           "(created | confirmed | merged) and provisional",
                                           {"type": "object"}),
                              **_errors(400, 401, 403, 404, 409)}}},
            "/v1/registrations": {"post": {
                "summary": "Open a pending sign-up of the app: its registration QR code "
                           "(JWS, typ kopilka-reg+jwt; never a card number)",
                "security": [{"appKey": []}], "requestBody": _body("RegistrationBody"),
                "responses": {"201": _resp("registration id and code", {"type": "object"}),
                              **_errors(400, 401, 403)}}},
        },
    }
