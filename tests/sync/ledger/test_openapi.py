"""The OpenAPI document and the ledger's behaviour agree.

A request built valid from the document (a small generator over its JSON
schemas: patterns, bounds, enums, required members, examples) is never
refused with ``400`` — a refusal for a rule the document does not state
would be a difference a third-party client (schemathesis) finds. Every
documented path answers, and a method a path does not take says ``Allow``.
"""
from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.ledger import Ledger, openapi

from .credentials import app_headers, office_headers
from .helpers import ASGIClient, TillSim

DOC = openapi()
SCHEMAS = DOC["components"]["schemas"]
#: text a till can send: any Unicode scalar value (no lone surrogate), within the pattern
_TEXT = st.characters(codec="utf-8")


def strategy(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid for ``schema`` (the subset of JSON Schema the document uses)."""
    if "$ref" in schema:
        return st.deferred(lambda: strategy(SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]))
    if "anyOf" in schema:
        return st.one_of([strategy(s) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "examples" in schema:
        # what no pattern can say (a card's check digit) the document shows by example
        return st.sampled_from(schema["examples"])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False,
                         allow_infinity=False)
    if kind == "string":
        return _string(schema)
    if kind == "array":
        items = strategy(schema.get("items", {}))
        return st.lists(items, min_size=schema.get("minItems", 0),
                        max_size=min(schema.get("maxItems", 3), 3))
    if kind == "object":
        return _object(schema)
    return st.one_of(st.none(), st.integers(0, 100), st.text(_TEXT, max_size=5))


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), min(schema.get("maxLength", 40), 40)
    if schema.get("format") == "uuid":
        return st.uuids().map(str)
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True, alphabet=_TEXT).filter(
            lambda s: low <= len(s) <= schema.get("maxLength", len(s)))
    return st.text(_TEXT, min_size=low, max_size=max(low, high))


def _object(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    props = schema.get("properties", {})
    required = set(schema.get("required", ()))
    if not props and "additionalProperties" in schema:
        key = strategy({"type": "string", **schema.get("propertyNames", {})})
        return st.dictionaries(key, strategy(schema["additionalProperties"]),
                               max_size=min(schema.get("maxProperties", 3), 3))
    return st.fixed_dictionaries(
        {k: strategy(v) for k, v in props.items() if k in required},
        optional={k: strategy(v) for k, v in props.items() if k not in required})


def _post_body(path: str) -> dict[str, Any]:
    ref = DOC["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return SCHEMAS[ref["$ref"].rsplit("/", 1)[1]]


def _keys(shop: Ledger, till: TillSim) -> dict[str, dict[str, str]]:
    """An Authorization header for each security scheme of the document."""
    return {"tillKey": till.headers, "officeKey": office_headers(shop),
            "appKey": app_headers(shop)}


def _headers(op: dict[str, Any], keys: dict[str, dict[str, str]]) -> dict[str, str]:
    schemes = [name for req in op.get("security", []) for name in req]
    return keys[schemes[0]] if schemes else {}


def _own(body: dict[str, Any], till: TillSim) -> dict[str, Any]:
    """The till's own ``till``/``store``: the document says a key speaks for its till."""
    return {**body, **{k: v for k, v in (("till", till.till), ("store", till.store))
                       if k in body}}


def _path_value(param: dict[str, Any]) -> str:
    schema = param["schema"]
    if schema.get("examples"):
        return str(schema["examples"][0])
    return "1" if param["name"] == "seq" else "KY-001-01"


@pytest.mark.parametrize("path", ["/v1/heartbeat", "/v1/holds", "/v1/tokens",
                                  "/v1/tills/me/re-enrol", "/v1/transactions"])
def test_a_body_built_valid_from_the_document_is_never_refused_as_invalid(
        client: ASGIClient, shop: Ledger, till: TillSim, path: str) -> None:
    headers = _headers(DOC["paths"][path]["post"], _keys(shop, till))

    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(strategy(_post_body(path)))
    def check(body: dict[str, Any]) -> None:
        resp = client.post(path, json=_own(body, till), headers=headers)
        assert resp.status_code != 400 and resp.status_code < 500, (body, resp.text)

    check()


def test_the_card_pattern_and_the_bounds_are_in_the_document() -> None:
    card = SCHEMAS["TokenBody"]["properties"]["card"]
    assert card["pattern"] == "^[0-9]{13}$" and "check digit" in card["description"]
    points = SCHEMAS["HoldBody"]["properties"]["points"]
    assert (points["minimum"], points["maximum"]) == (1, 2**53 - 1)
    assert set(SCHEMAS["Txn"]["properties"]["kind"]["enum"]) == {"sale", "return", "enrol"}
    assert "\\x00-\\x1f" in SCHEMAS["HoldBody"]["properties"]["account"]["pattern"]


def test_every_documented_path_answers(client: ASGIClient, shop: Ledger, till: TillSim) -> None:
    keys = _keys(shop, till)
    for path, ops in DOC["paths"].items():
        for method, op in ops.items():
            url = path
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    url = url.replace("{" + param["name"] + "}", _path_value(param))
            body = None
            if "requestBody" in op:
                body = _own({"till": "", "store": "", "card": "2900000123458"}, till)
            resp = client.request(method.upper(), url, headers=_headers(op, keys),
                                  json=body)
            assert resp.status_code < 500, (method, url, resp.text)
            assert resp.json().get("error") not in ("not_found", "method_not_allowed"), (
                method, url, resp.text)


def test_a_method_a_path_does_not_take_answers_405_with_allow(client: ASGIClient) -> None:
    for path, ops in DOC["paths"].items():
        url = re.sub(r"\{[^}]+\}", "x", path)
        method = next(m for m in ("PUT", "PATCH") if m.lower() not in ops)
        resp = client.request(method, url)
        assert resp.status_code == 405 and resp.json()["error"] == "method_not_allowed", url
        allowed = {m.strip() for m in resp.headers["allow"].split(",")}
        assert {m.upper() for m in ops} <= allowed, (url, allowed)
