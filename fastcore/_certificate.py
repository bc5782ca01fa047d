"""Gift certificates: the catalog kind, the signed code, the tender arithmetic.

One home for what the till and the ledger must agree on (docs/certificates.md):

- a catalog item ``"kind": "certificate"`` is sold at its ``price`` (the
  face value, kopecks) and may carry ``ocap`` (what its code may pay at a
  till that cannot reach the ledger) and ``valid_days``; it must be
  ``no_discount``, ``no_accrual`` and ``no_redeem``, because a certificate
  is money, not goods;
- its code is a JWS like the app's token (spec/token.md §2) with its own
  ``typ`` (``kopilka-cert+jwt``), so neither can pass for the other;
- a certificate is a payment tender applied after pricing: it pays at most
  what is due (no change is given) and never changes the engine's figures.

Pure: the caller passes keys and instants.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._errors import BundleError
from ._jws import b64url_encode
from ._values import is_int

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

#: the JWS ``typ`` of a certificate code (a customer token is ``kop+jwt``)
CERT_TYP = "kopilka-cert+jwt"
#: the catalog item kind of a certificate
CERT_KIND = "certificate"
#: how long a certificate stays spendable when its item does not say
CERT_VALID_DAYS = 365
#: the flags a certificate item must carry (it is money: no discount, no points)
CERT_FLAGS = ("no_accrual", "no_discount", "no_redeem")
_MAX = 2**53 - 1


@dataclass(frozen=True, slots=True)
class CertificateKind:
    """What a certificate catalog item says: face value, offline cap, lifetime."""

    face: int
    ocap: int | None
    valid_days: int


def certificate_kind(raw: dict[str, Any], path: str, price: int, flags: set[str]
                     ) -> CertificateKind | None:
    """The certificate fields of one catalog item (None for goods); ``BundleError`` naming the field."""
    kind = raw.get("kind")
    if kind is None:
        for key in ("ocap", "valid_days"):
            if key in raw:
                raise BundleError("bad_bundle", f"only a certificate item carries {key}", f"{path}.{key}")
        return None
    if kind != CERT_KIND:
        raise BundleError("bad_bundle", f"kind must be {CERT_KIND!r} or absent, not {kind!r}", f"{path}.kind")
    if raw.get("unit", "pcs") != "pcs":
        raise BundleError("bad_bundle", "a certificate is sold by the piece", f"{path}.unit")
    if price <= 0:
        raise BundleError("bad_bundle", "a certificate's price (its face value) must be above 0", f"{path}.price")
    missing = [f for f in CERT_FLAGS if f not in flags]
    if missing:
        raise BundleError("bad_bundle", f"a certificate must carry the flags {', '.join(CERT_FLAGS)} "
                          f"(missing {', '.join(missing)})", f"{path}.flags")
    ocap = raw.get("ocap")
    if ocap is not None and (not is_int(ocap) or not 0 < ocap <= price):
        raise BundleError("bad_bundle", f"must be an integer from 1 to the face value {price}, not {ocap!r}",
                          f"{path}.ocap")
    days = raw.get("valid_days", CERT_VALID_DAYS)
    if not is_int(days) or not 1 <= days <= 36600:
        raise BundleError("bad_bundle", f"must be an integer from 1 to 36600, not {days!r}", f"{path}.valid_days")
    return CertificateKind(price, ocap, days)


def cert_claims(program: str, cert_id: str, face: int, ocap: int | None, iat: int, exp: int) -> dict[str, Any]:
    """The claims of a certificate code (``ocap`` only when the certificate has one)."""
    claims: dict[str, Any] = {"iss": program, "cid": cert_id, "face": face, "iat": iat, "exp": exp}
    if ocap is not None:
        claims["ocap"] = ocap
    return claims


def cert_sign(claims: dict[str, Any], kid: str, key: Ed25519PrivateKey) -> str:
    """Compact JWS of a certificate's claims, header ``typ: kopilka-cert+jwt``."""
    header = {"alg": "EdDSA", "kid": kid, "typ": CERT_TYP}
    signing_input = (b64url_encode(json.dumps(header, separators=(",", ":")).encode("utf-8")) + "."
                     + b64url_encode(json.dumps(claims, separators=(",", ":")).encode("utf-8")))
    return signing_input + "." + b64url_encode(key.sign(signing_input.encode("ascii")))


def tender_amount(due: int, available: int) -> int:
    """What a certificate pays: all that is due, or all it has; never more (no change)."""
    return max(0, min(due, available))


def offline_allowance(face: int, ocap: int | None, used_here: int) -> int:
    """What a certificate may pay at a till that cannot reach the ledger.

    Only a code that carries ``ocap``; at most ``ocap`` (and never beyond the
    face value) less what this till already took from it while it could not
    confirm with the ledger. A code without ``ocap`` is online only: 0.
    """
    if ocap is None:
        return 0
    return max(0, min(ocap, face, _MAX) - used_here)
