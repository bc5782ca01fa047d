"""base64url and the token's JWS envelope: sign at the ledger, check at the till."""
from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fastcore import b64url_decode, b64url_encode, jws_sign, jws_signature_ok

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
CLAIMS = {"iss": "kopilka", "sub": "2900000123458", "tier": "золото", "bal": 2**53 - 1}


@pytest.mark.parametrize("raw", [b"", b"f", b"fo", b"foo", b"\xff\xfe\xfd", bytes(range(256))])
def test_base64url_round_trips_without_padding(raw: bytes) -> None:
    text = b64url_encode(raw)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64url_decode(text) == raw


@pytest.mark.parametrize("text", [
    "Zm8=",       # padding
    "Zm9v==",
    "Zh",         # "f" is "Zg": the unused low bits of "h" are not zero
    "Z",          # a length no encoding has
    "+/8",        # the standard alphabet, not the url-safe one
    "Zm9v\n",
    "Zm 9v",
    "Zm9v.",
])
def test_padding_and_non_canonical_text_are_refused(text: str) -> None:
    assert b64url_decode(text) is None


def _parts(token: str) -> tuple[dict, dict, bytes, bytes]:
    head, body, sig = token.split(".")
    pad = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))  # noqa: E731
    return json.loads(pad(head)), json.loads(pad(body)), f"{head}.{body}".encode(), pad(sig)


def test_a_signed_token_is_compact_eddsa_and_verifies() -> None:
    token = jws_sign(CLAIMS, "k1", KEY)
    header, claims, signing_input, sig = _parts(token)
    assert header == {"alg": "EdDSA", "kid": "k1", "typ": "kop+jwt"}
    assert claims == CLAIMS and "=" not in token
    assert jws_signature_ok(KEY.public_key(), signing_input, sig)


def test_the_claims_are_compact_utf8_json() -> None:
    body = jws_sign(CLAIMS, "k1", KEY).split(".")[1]
    raw = b64url_decode(body)
    assert raw == json.dumps(CLAIMS, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def test_signing_is_deterministic() -> None:
    assert jws_sign(CLAIMS, "k1", KEY) == jws_sign(CLAIMS, "k1", KEY)


def test_a_tampered_payload_or_signature_or_another_key_does_not_verify() -> None:
    token = jws_sign(CLAIMS, "k1", KEY)
    _, _, signing_input, sig = _parts(token)
    other = jws_sign(dict(CLAIMS, bal=10**9), "k1", KEY)
    _, _, other_input, _ = _parts(other)
    assert not jws_signature_ok(KEY.public_key(), other_input, sig)
    assert not jws_signature_ok(KEY.public_key(), signing_input, bytes([sig[0] ^ 1]) + sig[1:])
    stranger = Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key()
    assert not jws_signature_ok(stranger, signing_input, sig)


@pytest.mark.parametrize("length", [0, 63, 65])
def test_a_signature_of_the_wrong_length_does_not_verify(length: int) -> None:
    _, _, signing_input, sig = _parts(jws_sign(CLAIMS, "k1", KEY))
    assert not jws_signature_ok(KEY.public_key(), signing_input, (sig * 2)[:length])
