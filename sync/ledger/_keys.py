"""Ed25519 signing keys for loyalty tokens, and their rotation.

One key is ``active`` (signs new tokens); the one it replaced stays
``previous`` and is still published, so tokens already on phones keep
verifying until they expire; older keys are ``retired`` and dropped from
the JWKS. Tills only ever receive the public halves (RFC 8037 OKP JWKs),
inside the bundle under ``keys``.

The private keys live in the ledger database (PKCS#8 PEM); protect the
database accordingly.
"""
from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fastcore import b64url_encode

from ._storage import Tx


def _public_jwk(key: Ed25519PrivateKey, kid: str) -> dict[str, str]:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw), "kid": kid,
            "alg": "EdDSA", "use": "sig"}


def rotate(tx: Tx, at: str) -> str:
    """Make a new active key; the old active becomes previous; return the new kid."""
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    kid = at[:10].replace("-", "") + "-" + b64url_encode(raw)[:8]
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode("ascii")
    tx.execute("UPDATE signing_keys SET state = 'retired' WHERE state = 'previous'")
    tx.execute("UPDATE signing_keys SET state = 'previous' WHERE state = 'active'")
    tx.execute("INSERT INTO signing_keys (kid, private_key, public_jwk, state, created_at) "
               "VALUES (?, ?, ?, 'active', ?)", (kid, pem, json.dumps(_public_jwk(key, kid)), at))
    return kid


def jwks(tx: Tx) -> dict[str, Any]:
    """The published key set: active first, then previous."""
    rows = tx.all("SELECT public_jwk FROM signing_keys WHERE state IN ('active', 'previous') "
                  "ORDER BY CASE state WHEN 'active' THEN 0 ELSE 1 END, kid")
    return {"keys": [json.loads(r[0]) for r in rows]}


def active_key(tx: Tx, at: str) -> tuple[str, Ed25519PrivateKey]:
    """The signing key (made on first use if there is none)."""
    row = tx.one("SELECT kid, private_key FROM signing_keys WHERE state = 'active'")
    if row is None:
        rotate(tx, at)
        row = tx.one("SELECT kid, private_key FROM signing_keys WHERE state = 'active'")
        assert row is not None
    key = serialization.load_pem_private_key(str(row[1]).encode("ascii"), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return str(row[0]), key
