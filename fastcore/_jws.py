"""The JWS compact serialization of the app's token (spec/token.md §2, RFC 7515).

One home for base64url, for signing (the ledger issues tokens, the phone
twin forges realistic ones) and for checking a signature (the till). The
token's *claims* rules stay with the till's verifier (``agent``); this is
only the envelope: ``b64url(header) "." b64url(claims) "." b64url(sig)``,
``alg: EdDSA`` (Ed25519), ``typ: kop+jwt``.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # cryptography is imported by the callers that hold keys, not by ``import fastcore``
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(raw: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes | None:
    """Strict base64url without padding; ``None`` when ``text`` is not canonical.

    Canonical: only the url-safe alphabet, no ``=``, no impossible length,
    and the unused low bits of the last character zero, so that one byte
    string has exactly one text (a token cannot be varied without breaking it).
    """
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    if b64url_encode(raw) != text:
        return None
    return raw


def jws_sign(claims: dict[str, Any], kid: str, key: Ed25519PrivateKey) -> str:
    """Compact JWS of ``claims``, header ``{"alg":"EdDSA","kid":…,"typ":"kop+jwt"}``.

    Compact JSON; the claims keep non-ASCII text as UTF-8.
    """
    header = {"alg": "EdDSA", "kid": kid, "typ": "kop+jwt"}
    signing_input = (b64url_encode(json.dumps(header, separators=(",", ":")).encode("utf-8")) + "."
                     + b64url_encode(json.dumps(claims, separators=(",", ":"),
                                                ensure_ascii=False).encode("utf-8")))
    return signing_input + "." + b64url_encode(key.sign(signing_input.encode("ascii")))


def jws_signature_ok(key: Ed25519PublicKey, signing_input: bytes, signature: bytes) -> bool:
    """True when ``signature`` is ``key``'s Ed25519 signature of ``signing_input``
    (``header "." payload`` as sent, not re-encoded)."""
    from cryptography.exceptions import InvalidSignature

    if len(signature) != 64:
        return False
    try:
        key.verify(signature, signing_input)
    except InvalidSignature:
        return False
    return True
