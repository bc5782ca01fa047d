"""Offline verification of scanned customer codes (spec/token.md).

A till never trusts the network to tell it who the customer is: the app's
QR code is an Ed25519-signed JWS that the till checks against the public
keys (a JWKS) delivered with the bundle. The checks run in the spec's
order -- every ``malformed`` check first, then ``unknown_key``,
``bad_signature``, ``wrong_program``, ``not_yet_valid``, ``expired``,
``replayed`` -- so the reason shown to the cashier is deterministic.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any, Callable, Iterable, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fastcore import b64url_decode, ean13_valid, epoch_seconds, is_int, jws_signature_ok

from ._errors import TokenError

REASONS = (
    "malformed",
    "bad_check_digit",
    "unknown_key",
    "bad_signature",
    "wrong_program",
    "not_yet_valid",
    "expired",
    "replayed",
)

#: Plain words for the cashier, one per reason code.
MESSAGES: dict[str, str] = {
    "malformed": "This code is not a loyalty card or app code. Ask the customer to show it again.",
    "bad_check_digit": "The card number is mistyped or damaged (check digit). Scan it again or type it carefully.",
    "unknown_key": "The app code was signed with a key this till does not know. Ask the customer to refresh the app; the till may need a sync.",
    "bad_signature": "The app code is not genuine (signature check failed). Do not accept it.",
    "wrong_program": "This code belongs to another loyalty programme.",
    "not_yet_valid": "The app code is dated in the future. Check the till clock, or ask the customer to refresh the app.",
    "expired": "The app code has expired. Ask the customer to refresh the QR code in the app.",
    "replayed": "This app code was already used for a sale at this till. Ask the customer to refresh the QR code.",
    # docs/enrolment.md: the app's registration code (``_regcode``)
    "not_a_registration": "This is the customer's shopping code, not the app's registration code.",
}

NOT_BEFORE_SKEW_S = 120
EXPIRY_GRACE_S = 30

_DIGITS = re.compile(r"[0-9]+")
_WS = re.compile(r"\s")


def message_for(reason: str) -> str:
    """The cashier's plain-words text for a reason code."""
    return MESSAGES.get(reason, "The code was refused: " + reason)


@dataclass(frozen=True)
class Card:
    """A customer identified by a bare card number (no signed claims)."""

    card: str

    def to_json(self) -> dict[str, Any]:
        return {"card": self.card}


@dataclass(frozen=True)
class Token:
    """A verified token: its ``kid`` and claims (spec/token.md §2)."""

    kid: str
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def card(self) -> str:
        return str(self.claims["sub"])

    @property
    def account(self) -> str:
        return str(self.claims["acc"])

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    def to_json(self) -> dict[str, Any]:
        return dict(self.claims)


# --------------------------------------------------------------------- keys


class KeySet:
    """Public Ed25519 keys by ``kid``, from a JWKS document (RFC 7517).

    Keys of another type or curve, or without a usable ``x``, are skipped:
    a JWKS may carry keys for other purposes, and a token naming one of
    them is simply ``unknown_key``.
    """

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any] | None) -> "KeySet":
        keys: dict[str, Ed25519PublicKey] = {}
        entries = (jwks or {}).get("keys", []) if isinstance(jwks, Mapping) else []
        if not isinstance(entries, list):
            entries = []
        for jwk in entries:
            if not isinstance(jwk, Mapping):
                continue
            if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
                continue
            kid, x = jwk.get("kid"), jwk.get("x")
            if not isinstance(kid, str) or not isinstance(x, str):
                continue
            raw = b64url_decode(x)
            if raw is None or len(raw) != 32:
                continue
            keys[kid] = Ed25519PublicKey.from_public_bytes(raw)
        return cls(keys)

    def get(self, kid: str) -> Ed25519PublicKey | None:
        return self._keys.get(kid)

    def __len__(self) -> int:
        return len(self._keys)

    def kids(self) -> list[str]:
        return sorted(self._keys)


# ------------------------------------------------------------------ parsing


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("non-finite number")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate member {key!r}")
        result[key] = value
    return result


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise TokenError("malformed", f"not strict JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise TokenError("malformed", "not a JSON object")
    return value


def _check_claims(claims: dict[str, Any]) -> None:
    for name in ("iss", "sub", "acc", "tier", "jti"):
        if not isinstance(claims.get(name), str):
            raise TokenError("malformed", f"claim {name} must be a string")
    for name in ("seg", "ofr"):
        value = claims.get(name)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TokenError("malformed", f"claim {name} must be an array of strings")
    for name in ("bal", "cap"):
        value = claims.get(name)
        if not is_int(value) or value < 0:
            raise TokenError("malformed", f"claim {name} must be an integer >= 0")
    if not isinstance(claims.get("new"), bool):
        raise TokenError("malformed", "claim new must be a boolean")
    for name in ("iat", "exp"):
        if not is_int(claims.get(name)):
            raise TokenError("malformed", f"claim {name} must be an integer")
    fav = claims.get("fav")
    if fav is not None:
        if not isinstance(fav, dict) or not isinstance(fav.get("cat"), str) or not (
            fav.get("until") is None or isinstance(fav.get("until"), str)
        ):
            raise TokenError("malformed", "claim fav must be {cat, until}")
    if claims.get("bd") is not None and not isinstance(claims["bd"], str):
        raise TokenError("malformed", "claim bd must be a string MM-DD")
    if claims.get("bdok") is not None and not isinstance(claims["bdok"], bool):
        raise TokenError("malformed", "claim bdok must be a boolean")


def _strip_line_ending(code: str) -> str:
    for ending in ("\r\n", "\n", "\r"):
        if code.endswith(ending):
            return code[: -len(ending)]
    return code


def parse_code(code: str) -> Card | tuple[str, dict[str, Any], dict[str, Any], bytes, bytes]:
    """Strict parsing only: a ``Card``, or the token's pieces.

    Raises ``TokenError("malformed" | "bad_check_digit")``.
    """
    if not isinstance(code, str):
        raise TokenError("malformed", "code is not text")
    code = _strip_line_ending(code)
    if not code or _WS.search(code):
        raise TokenError("malformed", "empty code or whitespace inside")
    if code.isascii() and _DIGITS.fullmatch(code):
        if len(code) != 13:
            raise TokenError("malformed", "a card number has exactly 13 digits")
        if not ean13_valid(code):
            raise TokenError("bad_check_digit", "card number check digit is wrong")
        return Card(code)
    parts = code.split(".")
    if len(parts) != 3:
        raise TokenError("malformed", "a token has three dot-separated parts")
    h64, p64, s64 = parts
    if not h64 or not p64:
        raise TokenError("malformed", "empty header or payload")
    header_raw, payload_raw, signature = (b64url_decode(p) for p in parts)
    if header_raw is None or payload_raw is None or signature is None:
        raise TokenError("malformed", "not strict base64url")
    header = _json_object(header_raw)
    claims = _json_object(payload_raw)
    if header.get("alg") != "EdDSA" or type(header.get("alg")) is not str:
        raise TokenError("malformed", "alg must be EdDSA")
    if header.get("typ") != "kop+jwt" or type(header.get("typ")) is not str:
        raise TokenError("malformed", "typ must be kop+jwt")
    if not isinstance(header.get("kid"), str):
        raise TokenError("malformed", "kid must be a string")
    if "crit" in header:
        raise TokenError("malformed", "crit is not supported")
    _check_claims(claims)
    signing_input = f"{h64}.{p64}".encode("ascii")
    return header["kid"], header, claims, signing_input, signature


def to_epoch(now: datetime | int | float | Fraction) -> Fraction:
    """An instant as exact seconds since the epoch (boundaries stay exact)."""
    if isinstance(now, datetime):
        return epoch_seconds(now)
    return Fraction(now)


def check_signed(kid: str, claims: Mapping[str, Any], signing_input: bytes, signature: bytes,
                 keys: KeySet, *, now: datetime | int | float | Fraction, program: str | None,
                 what: str = "token") -> None:
    """token.md's checks after parsing, in its order: ``unknown_key``,
    ``bad_signature``, ``wrong_program``, ``not_yet_valid``, ``expired``
    (also for the registration code, ``_regcode``)."""
    key = keys.get(kid)
    if key is None:
        raise TokenError("unknown_key", f"kid {kid!r} is not in the key set")
    if not jws_signature_ok(key, signing_input, signature):
        raise TokenError("bad_signature", "signature does not verify")
    if program is not None and claims["iss"] != program:
        raise TokenError("wrong_program", f"{what} is for another program")
    instant = to_epoch(now)
    if claims["iat"] - instant > NOT_BEFORE_SKEW_S:
        raise TokenError("not_yet_valid", "issued in the future")
    if instant - claims["exp"] > EXPIRY_GRACE_S:
        raise TokenError("expired", f"{what} expired")


def verify(
    code: str,
    keys: KeySet,
    *,
    now: datetime | int | float | Fraction,
    program: str | None = None,
    used_jti: Callable[[str], bool] | Iterable[str] | None = None,
) -> Card | Token:
    """Verify one scanned code offline; raises ``TokenError(reason)``.

    ``program`` None skips the ``wrong_program`` check (the CLI without
    ``--program``); ``used_jti`` answers whether a ``jti`` already closed a
    sale at this till.
    """
    parsed = parse_code(code)
    if isinstance(parsed, Card):
        return parsed
    kid, _header, claims, signing_input, signature = parsed
    check_signed(kid, claims, signing_input, signature, keys, now=now, program=program)
    if used_jti is not None:
        seen = used_jti(claims["jti"]) if callable(used_jti) else claims["jti"] in set(used_jti)
        if seen:
            raise TokenError("replayed", "jti already closed a sale at this till")
    return Token(kid=kid, claims=claims)


def offline_redeemable(token: Token, redeemed_unacknowledged: int) -> int:
    """Points a token may redeem offline (spec/token.md):
    ``max(0, min(cap, bal) - R)``.

    ``R`` is every point this till redeemed for the same account in sales
    the ledger had not acknowledged before ``iat - 120 s`` (``bal`` is what
    the ledger knew at ``iat``: a sale it had not seen is not in it, whichever
    token that sale used). Counting only redemptions "since iat" let a phone
    that refreshes its code spend the same balance again; see
    ``Till.redeemed_unacknowledged``.
    """
    return max(0, min(int(token.claims["cap"]), int(token.claims["bal"])) - int(redeemed_unacknowledged))
