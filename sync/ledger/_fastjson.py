"""Fast JSON for the upload path, never changing what the ledger accepts.

Parsing a 1,000-TXN body and re-encoding each TXN canonically for its hash
check took half of the ledger's time per batch with the standard library.
``msgspec`` does both several times faster. Neither may change the
contract, so each fast path is only a first try:

- ``loads``: msgspec; on any refusal the standard parser runs and decides
  (same result, same errors as before).
- ``canonical_if_hashes``: msgspec's sorted compact encoding equals
  ``sync._hashchain.canonical_json`` for the usual TXN (ASCII text,
  integers, decimal strings). It is used only when it reproduces the
  till's hash, which proves it is the text the till hashed; anything else
  (non-ASCII text, floats) returns None and the caller encodes with the
  standard library as before.
"""
from __future__ import annotations

import hashlib
from typing import Any

try:
    import msgspec
except ImportError:  # pragma: no cover - a dependency; the slow path still works
    msgspec = None  # type: ignore[assignment]

_decoder = msgspec.json.Decoder() if msgspec is not None else None
_encoder = msgspec.json.Encoder(order="sorted") if msgspec is not None else None


def fast_loads(raw: bytes | str) -> Any:
    """Decode with msgspec; raise ``ValueError`` when it refuses (caller falls back)."""
    if _decoder is None:
        raise ValueError("msgspec is not installed")
    return _decoder.decode(raw)


def canonical_if_hashes(body: dict[str, Any], prev_hash: str, expected: str) -> str | None:
    """The canonical text of ``body`` if the fast encoding reproduces ``expected``."""
    if _encoder is None:
        return None
    try:
        data = _encoder.encode(body)
    except (TypeError, ValueError, OverflowError):
        return None
    if not data.isascii():
        return None  # canonical JSON escapes non-ASCII; let the standard encoder do it
    text = data.decode("ascii")
    if hashlib.sha256((prev_hash + text).encode("utf-8")).hexdigest() != expected:
        return None
    return text
