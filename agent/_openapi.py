"""The OpenAPI 3.1 document of the till's local API (served at /openapi.json).

Generated: the schemas are the msgspec Structs that validate the requests
(``_bodies.py``), so the document cannot say less than the till checks.
Only the list of operations (summary, answer, refusals) is written here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from . import _bodies as b

_REF = "#/components/schemas/{name}"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    ok: int = 200
    answer: type[msgspec.Struct] | None = b.SessionView
    body: type[msgspec.Struct] | None = None
    errors: tuple[int, ...] = (400, 404, 409, 422)
    query: tuple[str, ...] = ()


OPERATIONS: tuple[Operation, ...] = (
    Operation("get", "/v1/status", "Till status: queue, bundle, hardware, last sync", answer=b.Status, errors=()),
    Operation("get", "/v1/events", "Server-sent events: scanner, camera, session, printer, sync",
              answer=None, errors=()),
    Operation("post", "/v1/sessions", "Open a sale", 201, errors=(409,)),
    Operation("get", "/v1/sessions/current", "The open sale", errors=(404,)),
    Operation("get", "/v1/sessions/{sid}", "One sale", errors=(404,)),
    Operation("post", "/v1/sessions/{sid}/lines", "Add an item", body=b.AddLine),
    Operation("patch", "/v1/sessions/{sid}/lines/{index}", "Change a line's quantity", body=b.SetQty),
    Operation("delete", "/v1/sessions/{sid}/lines/{index}", "Void a line"),
    Operation("post", "/v1/sessions/{sid}/scan", "A scanned code, routed as till.md §1: receipt, item, scale "
              "label, coupon, card or token; refused codes are 422 {error, code}", body=b.Scanned),
    Operation("post", "/v1/sessions/{sid}/coupons", "Add a coupon (typed); a second time changes nothing",
              body=b.Scanned),
    Operation("delete", "/v1/sessions/{sid}/coupons/{code}", "Remove a coupon from the sale"),
    Operation("post", "/v1/sessions/{sid}/identify", "Identify the customer (card or app QR)", body=b.Identify),
    Operation("post", "/v1/sessions/{sid}/certificates", "Pay part of the sale with a gift certificate "
              "(its signed code or KPC- number): at most what is due, never change; refused codes "
              "are 422 {error, code} (docs/certificates.md)", body=b.Tender),
    Operation("post", "/v1/sessions/{sid}/enrol", "Enrol a new card (docs/enrolment.md): online on the "
              "ledger, else a provisional account and an enrol TXN; then identify", body=b.Enrol,
              errors=(400, 404, 409, 422, 503)),
    Operation("post", "/v1/sessions/{sid}/registration", "The app's registration QR (kopilka-reg+jwt) "
              "for the card enrolled next in this sale", body=b.Scanned),
    Operation("post", "/v1/sessions/{sid}/redeem", 'Spend points: a number or "max"', body=b.Redeem),
    Operation("post", "/v1/sessions/{sid}/pay", "Pay: commits the sale, prints the receipt", body=b.Pay),
    Operation("post", "/v1/sessions/{sid}/cancel", "Cancel the open sale"),
    Operation("get", "/v1/sales", "A committed sale by exactly one of receipt, txn_id or session (a POS that "
              "lost the answer to pay asks here; 404: never paid)", answer=b.Sale, errors=(400, 404),
              query=("receipt", "txn_id", "session")),
    Operation("post", "/v1/returns", "Return part of a sale", 201, answer=b.ReturnView, body=b.ReturnRequest),
    Operation("post", "/v1/sync/now", "Drain the outbox to the ledger now", answer=b.SyncReport, errors=(422,)),
    Operation("post", "/v1/print/retry", "Retry queued receipts", answer=b.Printed, errors=()),
)

_GUARD = {
    "401": "no_token / bad_token (kopilka agent token)",
    "403": "bad_host / bad_origin: not the till itself",
    "415": "bad_media_type: bodies are application/json",
}


def _json(ref: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": ref}}


def _operation(op: Operation, refs: dict[type, dict[str, Any]]) -> dict[str, Any]:
    error = _json(refs[b.Refusal])
    responses: dict[str, Any] = {}
    if op.answer is None:
        responses[str(op.ok)] = {"description": "text/event-stream"}
    else:
        responses[str(op.ok)] = {"description": "OK", "content": _json(refs[op.answer])}
    for code in op.errors:
        responses[str(code)] = {"description": "refused; nothing changed", "content": error}
    # every operation may be refused by the request guard (``_security.py``):
    # 403 for a foreign Host/Origin; writes also 401 without the token, 415 for a non-JSON body
    for guard in ("403",) if op.method == "get" else ("401", "403", "415"):
        responses[guard] = {"description": _GUARD[guard], "content": error}
    doc: dict[str, Any] = {"summary": op.summary, "responses": responses}
    if op.method != "get":
        doc["security"] = [{"apiToken": []}]
    if op.body is not None:
        doc["requestBody"] = {"required": True, "content": _json(refs[op.body])}
    params = [{"name": name, "in": "path", "required": True,
               "schema": {"type": "integer", "minimum": 0} if name == "index" else {"type": "string"}}
              for name in _path_params(op.path)]
    params += [{"name": n, "in": "query", "required": False, "schema": {"type": "string", "minLength": 1}}
               for n in op.query]
    if params:
        doc["parameters"] = params
    return doc


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def openapi_document() -> dict[str, Any]:
    """The document, generated from the Structs of ``_bodies.py``."""
    kinds = [b.Refusal, b.ReturnItem] + sorted({k for op in OPERATIONS for k in (op.answer, op.body) if k},
                                             key=lambda k: k.__name__)
    refs, components = msgspec.json.schema_components(kinds, ref_template=_REF)
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, dict(zip(kinds, refs, strict=True)))
    return {
        "openapi": "3.1.0",
        "info": {"title": "kopilka till agent local API", "version": "1",
                 "description": "For the POS host on 127.0.0.1. Money in kopecks, points integers."},
        "security": [],
        "paths": paths,
        "components": {
            "securitySchemes": {"apiToken": {
                "type": "http", "scheme": "bearer",
                "description": "the till's local API token (<data_dir>/api-token; kopilka agent token)"}},
            "schemas": components,
        },
    }
