"""The app's registration QR code, verified offline (docs/enrolment.md).

token.md's JWS with its own type: header ``{"alg": "EdDSA", "kid": …,
"typ": "kopilka-reg+jwt"}``, signed by the ledger with the programme's
token keys (``POST /v1/registrations``, the app's key only). Claims:
``iss`` (program), ``reg`` (the app's pending registration id), ``iat``,
``exp``, ``jti``, optionally ``ph`` (hex SHA-256 of the phone number). It
never carries a card number: a code with ``sub`` is ``malformed``.

The same strict parsing and the same reasons as token.md, in the same
order: ``malformed``, ``unknown_key``, ``bad_signature``,
``wrong_program``, ``not_yet_valid``, ``expired``, ``replayed``; a
customer's loyalty token (``typ: kop+jwt``) shown instead is
``not_a_registration``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any, Callable

from fastcore import b64url_decode, is_int

from ._errors import TokenError
from ._token import _WS, KeySet, _json_object, _strip_line_ending, check_signed

REG_TYP = "kopilka-reg+jwt"
_REG_ID = re.compile(r"[A-Za-z0-9_-]{8,64}\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class Registration:
    """A verified registration code: the app's pending sign-up ``id``."""

    id: str
    jti: str
    phone_hash: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "jti": self.jti, "phone_hash": self.phone_hash}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Registration:
        return cls(str(doc["id"]), str(doc["jti"]), doc.get("phone_hash"))


def _header_typ(code: str) -> Any:
    head = code.split(".", 1)[0]
    raw = b64url_decode(head)
    if raw is None:
        return None
    try:
        return _json_object(raw).get("typ")
    except TokenError:
        return None


def is_registration_code(code: Any) -> bool:
    """Whether a scanned two-dot code says it is a registration code (routing only)."""
    return isinstance(code, str) and code.count(".") == 2 and len(code) < 4096 and \
        _header_typ(_strip_line_ending(code)) == REG_TYP


def _claims(claims: dict[str, Any]) -> None:
    for name in ("iss", "reg", "jti"):
        if not isinstance(claims.get(name), str):
            raise TokenError("malformed", f"claim {name} must be a string")
    for name in ("iat", "exp"):
        if not is_int(claims.get(name)):
            raise TokenError("malformed", f"claim {name} must be an integer")
    if not _REG_ID.match(claims["reg"]):
        raise TokenError("malformed", "claim reg must be 8-64 letters, digits, _ or -")
    if "sub" in claims or "acc" in claims:
        raise TokenError("malformed", "a registration code never carries a card or an account")
    ph = claims.get("ph")
    if ph is not None and (not isinstance(ph, str) or not _HEX64.match(ph)):
        raise TokenError("malformed", "claim ph must be 64 lowercase hex digits")


def verify_registration(code: str, keys: KeySet, *, now: datetime | int | float | Fraction,
                        program: str | None, used_jti: Callable[[str], bool]) -> Registration:
    """Verify one scanned registration code offline; raises ``TokenError(reason)``."""
    code = _strip_line_ending(code)
    if not code or len(code) > 4096 or _WS.search(code):
        raise TokenError("malformed", "empty, too long, or whitespace inside")
    parts = code.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise TokenError("malformed", "a registration code has three dot-separated parts")
    header_raw, payload_raw, signature = (b64url_decode(p) for p in parts)
    if header_raw is None or payload_raw is None or signature is None:
        raise TokenError("malformed", "not strict base64url")
    header, claims = _json_object(header_raw), _json_object(payload_raw)
    if header.get("alg") != "EdDSA" or type(header.get("alg")) is not str:
        raise TokenError("malformed", "alg must be EdDSA")
    if header.get("typ") == "kop+jwt":
        raise TokenError("not_a_registration", "this is the customer's loyalty code, not a "
                         "registration code")
    if header.get("typ") != REG_TYP or type(header.get("typ")) is not str:
        raise TokenError("malformed", f"typ must be {REG_TYP}")
    if not isinstance(header.get("kid"), str) or "crit" in header:
        raise TokenError("malformed", "kid must be a string; crit is not supported")
    _claims(claims)
    check_signed(header["kid"], claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature, keys,
                 now=now, program=program, what="registration code")
    if used_jti(claims["jti"]):
        raise TokenError("replayed", "this registration code was already used at this till")
    return Registration(claims["reg"], claims["jti"], claims.get("ph"))
