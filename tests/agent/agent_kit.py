"""Test helpers for the agent tests: real Ed25519 tokens, cards, bundles."""
from __future__ import annotations

import base64
import json
import threading
from contextlib import contextmanager
from typing import Any, Iterator

import httpx

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from agent import ApiServer, create_app

NOW = 1_795_000_000  # a fixed till clock (2026-11-18)
PROGRAM = "kopilka"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def ean13(first12: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return first12 + str((10 - total % 10) % 10)


CARD = ean13("290000012345")
CACHED_CARD = ean13("290000099999")


class Signer:
    """A ledger-side key pair that makes real tokens for tests."""

    def __init__(self, kid: str = "k1") -> None:
        self.kid = kid
        self.key = Ed25519PrivateKey.generate()

    def jwk(self) -> dict[str, str]:
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "kid": self.kid, "x": b64(raw), "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def claims(self, **over: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "iss": PROGRAM, "sub": ean13("290000012345"), "acc": "A-77", "tier": "silver",
            "seg": ["students"], "ofr": [], "bal": 1500, "cap": 1000, "new": False,
            "iat": NOW, "exp": NOW + 300, "jti": "jti-1",
        }
        base.update(over)
        return {k: v for k, v in base.items() if v is not ...}

    def raw(self, header_json: str, payload_json: str, *, sign: bool = True) -> str:
        h, p = b64(header_json.encode()), b64(payload_json.encode())
        sig = self.key.sign(f"{h}.{p}".encode()) if sign else b"\0" * 64
        return f"{h}.{p}.{b64(sig)}"

    def token(self, header: dict[str, Any] | None = None, **claims: Any) -> str:
        hdr = {"alg": "EdDSA", "kid": self.kid, "typ": "kop+jwt"} if header is None else header
        return self.raw(json.dumps(hdr), json.dumps(self.claims(**claims)))


@contextmanager
def served_api(till: Any) -> Iterator[httpx.Client]:
    """The till's local API on a real port, and a client that carries its token."""
    closing = threading.Event()
    app = create_app(till, closing=closing)
    server = ApiServer(app, "127.0.0.1", 0).start()
    client = httpx.Client(base_url=server.url, timeout=5,
                          headers={"Authorization": f"Bearer {app.state.api_token}"})
    try:
        yield client
    finally:
        closing.set()
        client.close()
        server.stop()
