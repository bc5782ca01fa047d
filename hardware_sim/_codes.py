"""Sample customer codes for the phone twin: EAN-13 card numbers and JWS tokens.

The camera benchmarks and tests need codes that look exactly like the ones
real phones show (``spec/token.md``): 13-digit card numbers with a valid
check digit, and Ed25519-signed JWS compact tokens of 300-500 characters.
They are generated from a seeded ``numpy`` RNG so that every robustness set
is reproducible; the signing key is derived from the seed too (Ed25519
signatures are deterministic), so the same seed gives the same bytes. The
check digit and the JWS envelope are ``fastcore``'s, the same rules the
ledger signs and the till verifies with.
"""
from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fastcore import ean13_check_digit, jws_sign

__all__ = ["sample_card", "sample_token"]


def sample_card(rng: np.random.Generator) -> str:
    """A loyalty card number: in-store prefix 2xx (not a weight code) + check digit."""
    body = "27" + "".join(str(int(d)) for d in rng.integers(0, 10, size=10))
    return body + str(ean13_check_digit(body))


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
    return jws_sign(claims, "k2026-01", key)
