"""Sample customer codes for the phone twin: EAN-13 card numbers and JWS tokens.

The camera benchmarks and tests need codes that look exactly like the ones
real phones show (``spec/token.md``): 13-digit card numbers with a valid
check digit, and Ed25519-signed JWS compact tokens of 300-500 characters.
They are generated from a seeded ``numpy`` RNG so that every robustness set
is reproducible; the signing key is derived from the seed too (Ed25519
signatures are deterministic), so the same seed gives the same bytes.
"""
from __future__ import annotations

import base64
import json

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["ean13_check_digit", "sample_card", "sample_token"]


def ean13_check_digit(first12: str) -> int:
    """Check digit of an EAN-13 from its first 12 digits (GS1 mod-10)."""
    if len(first12) != 12 or not first12.isdigit():
        raise ValueError(f"need 12 digits, got {first12!r}")
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return (10 - total % 10) % 10


def sample_card(rng: np.random.Generator) -> str:
    """A loyalty card number: in-store prefix 2xx (not a weight code) + check digit."""
    body = "27" + "".join(str(int(d)) for d in rng.integers(0, 10, size=10))
    return body + str(ean13_check_digit(body))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def sample_token(rng: np.random.Generator, *, now: int = 1_760_000_000) -> str:
    """A signed loyalty token shaped like the app's rotating QR code."""
    key = Ed25519PrivateKey.from_private_bytes(rng.bytes(32))
    n_seg = int(rng.integers(0, 4))
    n_ofr = int(rng.integers(0, 6))
    claims = {
        "iss": "kopilka-demo",
        "sub": sample_card(rng),
        "acc": "acc-" + rng.bytes(6).hex(),
        "tier": ["base", "silver", "gold"][int(rng.integers(0, 3))],
        "seg": [f"seg-{int(rng.integers(0, 999)):03d}" for _ in range(n_seg)],
        "ofr": [f"ofr-{int(rng.integers(0, 99999)):05d}" for _ in range(n_ofr)],
        "bal": int(rng.integers(0, 50_000)),
        "cap": int(rng.integers(0, 5_000)),
        "new": bool(rng.integers(0, 2)),
        "iat": now,
        "exp": now + 300,
        "jti": rng.bytes(8).hex(),
    }
    header = {"alg": "EdDSA", "kid": "k2026-01", "typ": "kop+jwt"}
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = key.sign(signing_input.encode("ascii"))
    return signing_input + "." + _b64url(signature)
