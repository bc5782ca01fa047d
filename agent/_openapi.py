"""The OpenAPI 3.1 document of the till's local API (served at /openapi.json)."""
from __future__ import annotations

from typing import Any

_ERR = {"$ref": "#/components/schemas/Error"}


def _op(summary: str, ok: int, body: dict[str, Any] | None = None, errors: tuple[int, ...] = (400, 404, 409, 422),
        ok_schema: str = "Session", params: tuple[str, ...] = ()) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {str(ok): {"description": "OK", "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{ok_schema}"}}}}},
    }
    for code in errors:
        op["responses"][str(code)] = {"description": "refused; nothing changed",
                                      "content": {"application/json": {"schema": _ERR}}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = [{"name": p, "in": "path", "required": True,
                             "schema": {"type": "integer" if p == "index" else "string"}} for p in params]
    return op


def _guarded(paths: dict[str, Any]) -> dict[str, Any]:
    """Every operation may be refused by the request guard (``_security.py``):
    403 for a foreign Host/Origin; writes also 401 without the token and 415
    for a body that is not JSON. Writes require the bearer token."""
    for item in paths.values():
        for method, op in item.items():
            responses = op.setdefault("responses", {})
            responses["403"] = {"description": "bad_host / bad_origin: not the till itself",
                                "content": {"application/json": {"schema": _ERR}}}
            if method != "get":
                op["security"] = [{"apiToken": []}]
                responses["401"] = {"description": "no_token / bad_token (kopilka agent token)",
                                    "content": {"application/json": {"schema": _ERR}}}
                responses["415"] = {"description": "bad_media_type: bodies are application/json",
                                    "content": {"application/json": {"schema": _ERR}}}
    return paths


def openapi_document() -> dict[str, Any]:
    """The document; kept by hand beside the routes in ``_api.py``."""
    s, sl = ("sid",), ("sid", "index")
    obj = lambda props, req: {"type": "object", "properties": props, "required": req}  # noqa: E731
    return {
        "openapi": "3.1.0",
        "info": {"title": "kopilka till agent local API", "version": "1",
                 "description": "For the POS host on 127.0.0.1. Money in kopecks, points integers."},
        "security": [],
        "paths": _guarded({
            "/v1/status": {"get": _op("Till status: queue, bundle, hardware, last sync", 200, errors=(), ok_schema="Status")},
            "/v1/events": {"get": {"summary": "Server-sent events: scanner, camera, session, printer, sync",
                                   "responses": {"200": {"description": "text/event-stream"}}}},
            "/v1/sessions": {"post": _op("Open a sale", 201, errors=(409,))},
            "/v1/sessions/current": {"get": _op("The open sale", 200, errors=(404,))},
            "/v1/sessions/{sid}": {"get": _op("One sale", 200, errors=(404,), params=s)},
            "/v1/sessions/{sid}/lines": {"post": _op("Add an item", 200, obj(
                {"sku": {"type": "string"}, "qty": {"type": ["integer", "string"]}}, ["sku"]), params=s)},
            "/v1/sessions/{sid}/lines/{index}": {
                "patch": _op("Change a line's quantity", 200, obj({"qty": {"type": ["integer", "string"]}}, ["qty"]), params=sl),
                "delete": _op("Void a line", 200, params=sl)},
            "/v1/sessions/{sid}/scan": {"post": _op(
                "A scanned code, routed as till.md §1: receipt, item, scale label, coupon, card or token; "
                "refused codes are 422 {error, code}", 200, obj({"code": {"type": "string"}}, ["code"]), params=s)},
            "/v1/sessions/{sid}/coupons": {"post": _op("Add a coupon (typed); a second time changes nothing", 200,
                                                       obj({"code": {"type": "string"}}, ["code"]), params=s)},
            "/v1/sessions/{sid}/coupons/{code}": {"delete": _op("Remove a coupon from the sale", 200,
                                                                params=("sid", "code"))},
            "/v1/sessions/{sid}/identify": {"post": _op("Identify the customer (card or app QR)", 200,
                                                        obj({"code": {"type": "string"}}, ["code"]), params=s)},
            "/v1/sessions/{sid}/redeem": {"post": _op("Spend points: a number or \"max\"", 200,
                                                      obj({"points": {"type": ["integer", "string"]}}, ["points"]), params=s)},
            "/v1/sessions/{sid}/pay": {"post": _op("Pay: commits the sale, prints the receipt", 200,
                                                   obj({"method": {"enum": ["cash", "card", "other"]}}, []), params=s)},
            "/v1/sessions/{sid}/cancel": {"post": _op("Cancel the open sale", 200, params=s)},
            "/v1/sales": {"get": {**_op("A committed sale by exactly one of receipt, txn_id or session "
                                        "(a POS that lost the answer to pay asks here; 404: never paid)",
                                        200, errors=(400, 404), ok_schema="Sale"),
                                  "parameters": [{"name": n, "in": "query", "required": False,
                                                  "schema": {"type": "string"}}
                                                 for n in ("receipt", "txn_id", "session")]}},
            "/v1/returns": {"post": _op("Return part of a sale", 201, obj(
                {"receipt": {"type": "string"}, "items": {"type": "array", "items": obj(
                    {"line": {"type": "integer"}, "qty": {"type": ["integer", "string"]}}, ["line"])}},
                ["receipt", "items"]), ok_schema="Return")},
            "/v1/sync/now": {"post": _op("Drain the outbox to the ledger now", 200, errors=(422,),
                                         ok_schema="SyncReport")},
            "/v1/print/retry": {"post": _op("Retry queued receipts", 200, errors=(), ok_schema="Printed")},
        }),
        "components": {"securitySchemes": {"apiToken": {
            "type": "http", "scheme": "bearer",
            "description": "the till's local API token (<data_dir>/api-token; kopilka agent token)"}},
                       "schemas": {
            "Error": obj({"error": {"type": "string", "description": "reason code"},
                          "message": {"type": "string", "description": "plain words for the cashier"},
                          "field": {"type": "string"}, "detail": {"type": "string"},
                          "code": {"type": "string", "description": "the refused scanned code (422 on scan/identify)"},
                          "code_shown": {"type": "string",
                                         "description": "the same code as a screen may show it (card masked)"}},
                         ["error", "message"]),
            "Session": obj({"id": {"type": "string"}, "txn_id": {"type": "string"},
                            "state": {"enum": ["open", "committed", "closed", "cancelled"]},
                            "lines": {"type": "array"}, "customer": {"type": ["object", "null"]},
                            "redeem": {"type": ["integer", "string"]}, "mode": {"enum": ["online", "offline"]},
                            "result": {"type": ["object", "null"], "description": "spec/pricing.md §7"},
                            "receipt_id": {"type": ["string", "null"]},
                            "coupons": {"type": "array", "items": obj(
                                {"code": {"type": "string"}, "applied": {"type": "boolean"},
                                 "reason": {"type": ["string", "null"]}}, ["code", "applied", "reason"])}},
                           ["id", "state", "lines"]),
            "Status": {"type": "object"},
            "SyncReport": obj({"sent": {"type": "integer"}, "accepted": {"type": "integer"},
                               "duplicate": {"type": "integer"}, "rejected": {"type": "integer"},
                               "remaining": {"type": "integer"}, "error": {"type": ["string", "null"]}},
                              ["sent", "remaining"]),
            "Sale": obj({"txn_id": {"type": "string"}, "receipt_id": {"type": "string"},
                         "seq": {"type": "integer"}, "state": {"enum": ["committed"]},
                         "sync": {"enum": ["pending", "acked", "rejected", None]},
                         "kind": {"enum": ["sale", "return"]}, "at": {"type": "string"},
                         "lines": {"type": "array"}, "totals": {"type": "object"}},
                        ["txn_id", "receipt_id", "seq", "state", "totals"]),
            "Return": obj({"receipt_id": {"type": "string"}, "totals": {"type": "object"},
                           "lines": {"type": "array"}, "receipt": {"type": "string"}}, ["receipt_id", "totals"]),
            "Printed": obj({"printed": {"type": "integer"}, "queued": {"type": "integer"}}, ["printed", "queued"]),
        }},
    }
