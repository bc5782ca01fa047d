"""The local API's OpenAPI document is generated from the Structs that
validate the requests: every documented operation answers with a documented
status, and a request built valid from the document is never a 400."""
from __future__ import annotations

from typing import Any, Iterator

import httpx
import pytest

from agent_kit import served_api

from agent._openapi import openapi_document

MILK = "4607000000014"


def example(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A value the schema allows: every property, the first choice of every union."""
    if "$ref" in schema:
        return example(components[schema["$ref"].rsplit("/", 1)[1]], components)
    if "examples" in schema:
        return schema["examples"][0]
    if "anyOf" in schema:
        return example(schema["anyOf"][0], components)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {k: example(v, components) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [example(schema["items"], components)] if "items" in schema else []
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "string":
        return "x" * int(schema.get("minLength", 1))
    return None


@pytest.fixture
def served(make_till) -> Iterator[tuple[httpx.Client, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    with served_api(make_till()) as client:
        yield client, client.get("/openapi.json").json()


def test_the_document_carries_the_bounds_and_enums_the_till_checks() -> None:
    schemas = openapi_document()["components"]["schemas"]
    assert schemas["Pay"]["properties"]["method"]["enum"] == ["card", "cash", "other"]
    assert {"type": "integer", "minimum": 0} in schemas["Redeem"]["properties"]["points"]["anyOf"]
    assert schemas["AddLine"]["required"] == ["sku"]
    assert "[0-9]{13}" in schemas["Identify"]["properties"]["code"]["pattern"]  # a card number


def test_the_session_view_documents_the_hints_shape() -> None:
    schemas = openapi_document()["components"]["schemas"]
    hints = schemas["SessionView"]["properties"]["hints"]
    assert hints["items"] == {"$ref": "#/components/schemas/Hint"}
    hint = schemas["Hint"]
    assert set(hint["required"]) == {"promo", "kind", "reason", "scope", "near", "text"}
    kop = hint["properties"]["missing_kop"]["anyOf"]
    assert {"type": "null"} in kop and any(k.get("type") == "integer" and k.get("minimum") == 0 for k in kop)


def test_every_documented_operation_answers_and_a_valid_request_is_not_a_400(served) -> None:
    client, doc = served
    components = doc["components"]["schemas"]
    for path, item in doc["paths"].items():
        if path == "/v1/events":
            continue  # a stream: tests/agent/test_agent_routing.py reads it
        for method, op in item.items():
            sid = (client.get("/v1/sessions/current").json().get("id")
                   or client.post("/v1/sessions").json()["id"])
            client.post(f"/v1/sessions/{sid}/lines", json={"sku": MILK})
            url = path.format(sid=sid, index=0, code="SPRING300")
            body = None
            if "requestBody" in op:
                body = example(op["requestBody"]["content"]["application/json"]["schema"], components)
            params = {q["name"]: "x" for q in op.get("parameters", []) if q["in"] == "query"}
            params = dict(list(params.items())[:1])  # exactly one key, as documented
            r = client.request(method.upper(), url, json=body, params=params)
            assert str(r.status_code) in op["responses"], (method, path, r.status_code, r.text)
            assert r.status_code != 400, (method, path, r.text)
