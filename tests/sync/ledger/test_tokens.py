"""Token issuing: JWS (EdDSA) per spec/token.md, verified with the JWKS public key."""
from __future__ import annotations

import base64
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sync.ledger import Ledger

from .conftest import FakeClock
from .credentials import app_headers
from .helpers import CARD_A, CARD_C, ASGIClient, TillSim


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_with_jwks(token: str, jwks: dict) -> dict:
    """Verify with cryptography directly, as a till would."""
    head, body, sig = token.split(".")
    header = json.loads(b64d(head))
    assert header == {"alg": "EdDSA", "kid": header["kid"], "typ": "kop+jwt"}
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    assert (jwk["kty"], jwk["crv"]) == ("OKP", "Ed25519")
    Ed25519PublicKey.from_public_bytes(b64d(jwk["x"])).verify(b64d(sig), f"{head}.{body}".encode())
    return json.loads(b64d(body))


def test_an_issued_token_verifies_with_the_public_key_shipped_in_the_bundle(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    resp = client.post("/v1/tokens", json={"card": CARD_A}, headers=app_headers(shop))
    assert resp.status_code == 200
    bundle = client.get("/v1/bundle", headers=till.headers).json()["bundle"]
    claims = check_with_jwks(resp.json()["token"], bundle["keys"])
    assert claims["sub"] == CARD_A and claims["acc"] == "A-77" and claims["tier"] == "silver"
    assert claims["iss"] == "kopilka" and claims["seg"] == ["students"] and claims["ofr"] == []
    assert claims["bal"] == 500 and claims["cap"] == 500 and claims["new"] is True
    assert claims["exp"] - claims["iat"] == 300
    assert claims["iat"] == int(shop.clock().timestamp())
    assert claims["fav"] == {"cat": "dairy", "until": "2026-12-10"}
    assert claims["bd"] == "11-22" and claims["bdok"] is True


def test_a_tampered_token_does_not_verify(client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    token = client.post("/v1/tokens", json={"card": CARD_A},
                        headers=app_headers(shop)).json()["token"]
    head, body, sig = token.split(".")
    claims = json.loads(b64d(body))
    claims["bal"] = 10**6
    forged = head + "." + base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode() + "." + sig
    with pytest.raises(InvalidSignature):
        check_with_jwks(forged, shop.jwks())


def test_bal_is_the_balance_less_holds_and_cap_follows_the_accounts_offline_cap(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    shop.import_members("card,account,offline_cap\n" f"{CARD_C},B-01,25\n")
    client.post("/v1/holds", headers=till.headers, json={
        "till": till.till, "account": "B-01", "points": 10,
        "txn_id": "6f0e8a62-3b1f-4c5e-9d36-0d9b1f1c2a10"})
    claims = check_with_jwks(shop.issue_token(CARD_C), shop.jwks())
    assert (claims["bal"], claims["cap"]) == (30, 25)
    assert "fav" not in claims and "bd" not in claims


def test_the_agents_offline_verifier_accepts_the_ledgers_token(
        till: TillSim, shop: Ledger, clock: FakeClock) -> None:
    from agent._token import KeySet, verify

    token = shop.issue_token(CARD_A)
    found = verify(token, KeySet.from_jwks(shop.jwks()), now=clock(), program="kopilka")
    assert found.account == "A-77"


def test_rotation_keeps_the_previous_key_published_and_retires_the_one_before(
        shop: Ledger, till: TillSim) -> None:
    old = shop.issue_token(CARD_A)
    kid1 = json.loads(b64d(old.split(".")[0]))["kid"]
    kid2, version = shop.rotate_keys()
    assert version == 2
    assert [k["kid"] for k in shop.jwks()["keys"]] == [kid2, kid1]
    check_with_jwks(old, shop.jwks())  # tokens on phones keep verifying
    new = shop.issue_token(CARD_A)
    assert json.loads(b64d(new.split(".")[0]))["kid"] == kid2
    shop.clock.advance(days=1)  # type: ignore[attr-defined]
    kid3, _ = shop.rotate_keys()
    assert [k["kid"] for k in shop.jwks()["keys"]] == [kid3, kid2]
    answer = shop.bundle_answer(2)
    assert answer is not None and answer["kind"] == "delta"
    assert [k["kid"] for k in answer["changes"]["keys"]["keys"]] == [kid3, kid2]


def test_token_requests_that_are_wrong_get_a_specific_4xx(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    assert client.post("/v1/tokens", json={"card": CARD_A}).status_code == 401
    cases = [({"card": "123"}, 400), ({"card": "2900000123459"}, 400), ({}, 400),
             ({"card": "2900000999992"}, 404)]
    app = app_headers(shop)
    for body, status in cases:
        resp = client.post("/v1/tokens", json=body, headers=app)
        assert resp.status_code == status, (body, resp.text)
        assert resp.json()["error"] in ("invalid", "unknown_card")
