"""Gift certificates at the till: sold as goods, spent as a tender (docs/certificates.md).

A certificate is a payment tender applied after pricing: the engine's
figures (subtotal, discounts, points) never see it. It pays at most what is
still due (no change is given); what it still holds is shown and printed.

- **Online** (the ledger answers within the hold budget): the till asks
  the ledger to hold ``min(balance, due)`` of it for this sale; the sale's
  TXN turns the hold into a debit.
- **Offline**: only a signed code (``typ: kopilka-cert+jwt``) that carries
  ``ocap`` pays, at most ``ocap`` (never beyond its face value) less what
  this till already took from it (``agent_cert_tender``). A certificate
  number (``KPC-…``, printed on the receipt that sold it) or a code
  without ``ocap`` is online only.

A code is checked like a customer token (spec/token.md's order and
reasons: ``malformed``, ``unknown_key``, ``bad_signature``,
``wrong_program``, ``not_yet_valid``, ``expired``) with the same keys; a
customer's token offered as a certificate is ``not_a_certificate``.
"""
from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

from fastcore import (CERT_TYP, CertificateKind, b64url_decode, is_int, jws_signature_ok, offline_allowance,
                      tender_amount)

from ._errors import CodeRefused, LedgerUnavailable, SessionError, TokenError
from ._part import TillPart
from ._session import Session
from ._token import EXPIRY_GRACE_S, NOT_BEFORE_SKEW_S, KeySet, _json_object, _strip_line_ending, to_epoch

log = logging.getLogger(__name__)

#: what a sold certificate's receipt prints (QR and text): its number, online only
CERT_REF = re.compile(r"KPC-([0-9a-f]{32})")
_CERT_ID = re.compile(r"[A-Za-z0-9-]{8,64}")
_WS = re.compile(r"\s")

#: the cashier's words for each refusal of a certificate
MESSAGES: dict[str, str] = {
    "not_a_certificate": "This is the customer's loyalty code, not a gift certificate.",
    "certificate_online_only": "This certificate can be used only while the till reaches head "
                               "office. Try again when the till is online, or take another payment.",
    "certificate_offline_cap": "Offline, this certificate has paid all it may at this till. "
                               "Take another payment.",
    "unknown_certificate": "Head office does not know this certificate.",
    "certificate_spent": "Nothing is left on this certificate.",
    "certificate_expired": "This certificate has expired.",
    "nothing_due": "The sale is already paid in full.",
    "certificate_not_active": "This certificate's sale has not reached head office yet. "
                              "Try again in a minute, or take another payment.",
}


@dataclass(frozen=True)
class CertCode:
    """A scanned certificate: its id, and for a signed code its face value and offline cap."""

    cert_id: str
    face: int | None = None
    ocap: int | None = None
    signed: bool = False


def looks_like_certificate(code: str) -> bool:
    """A certificate number, or a JWS whose header says ``typ: kopilka-cert+jwt`` (not verified here)."""
    code = _strip_line_ending(code)
    if CERT_REF.fullmatch(code):
        return True
    if code.count(".") != 2:
        return False
    raw = b64url_decode(code.split(".", 1)[0])
    try:
        header = _json_object(raw) if raw is not None else None
    except TokenError:
        return False
    return isinstance(header, dict) and header.get("typ") == CERT_TYP


def _claims_ok(claims: dict[str, Any]) -> None:
    if not isinstance(claims.get("iss"), str):
        raise TokenError("malformed", "claim iss must be a string")
    if not isinstance(claims.get("cid"), str) or not _CERT_ID.fullmatch(claims["cid"]):
        raise TokenError("malformed", "claim cid must be a certificate id")
    face = claims.get("face")
    if not is_int(face) or face <= 0:
        raise TokenError("malformed", "claim face must be an integer > 0")
    ocap = claims.get("ocap")
    if ocap is not None and (not is_int(ocap) or not 0 < ocap <= face):
        raise TokenError("malformed", "claim ocap must be an integer from 1 to face")
    for name in ("iat", "exp"):
        if not is_int(claims.get(name)):
            raise TokenError("malformed", f"claim {name} must be an integer")


def verify_certificate(code: str, keys: KeySet, *, now: Any, program: str | None) -> CertCode:
    """A scanned certificate, checked offline in token.md's order; ``TokenError(reason)``."""
    if not isinstance(code, str):
        raise TokenError("malformed", "code is not text")
    code = _strip_line_ending(code)
    ref = CERT_REF.fullmatch(code)
    if ref:
        return CertCode(ref.group(1))
    if not code or _WS.search(code) or code.count(".") != 2:
        raise TokenError("malformed", "not a certificate code")
    h64, p64, _ = code.split(".")
    header_raw, payload_raw, signature = (b64url_decode(p) for p in code.split("."))
    if not h64 or not p64 or header_raw is None or payload_raw is None or signature is None:
        raise TokenError("malformed", "not strict base64url")
    header, claims = _json_object(header_raw), _json_object(payload_raw)
    if header.get("alg") != "EdDSA" or type(header.get("alg")) is not str:
        raise TokenError("malformed", "alg must be EdDSA")
    if header.get("typ") == "kop+jwt":
        raise TokenError("not_a_certificate", "a customer token, not a certificate")
    if header.get("typ") != CERT_TYP or not isinstance(header.get("kid"), str) or "crit" in header:
        raise TokenError("malformed", f"typ must be {CERT_TYP}, kid a string, no crit")
    _claims_ok(claims)
    key = keys.get(header["kid"])
    if key is None:
        raise TokenError("unknown_key", "kid is not in the key set")
    if not jws_signature_ok(key, f"{h64}.{p64}".encode("ascii"), signature):
        raise TokenError("bad_signature", "signature does not verify")
    if program is not None and claims["iss"] != program:
        raise TokenError("wrong_program", "certificate of another programme")
    instant = to_epoch(now)
    if claims["iat"] - instant > NOT_BEFORE_SKEW_S:
        raise TokenError("not_yet_valid", "issued in the future")
    if instant - claims["exp"] > EXPIRY_GRACE_S:
        raise TokenError("expired", "certificate expired")
    return CertCode(claims["cid"], claims["face"], claims.get("ocap"), signed=True)


def certificate_item(catalog: Any, sku: str) -> tuple[int, int | None] | None:
    """``(face, ocap)`` when ``sku`` is a certificate in the bundle in force, else None."""
    item = catalog.items.get(sku) or {}
    kind = item.get("certificate")
    if isinstance(kind, CertificateKind):  # the engine's own item (agent._catalog.ItemView)
        return kind.face, kind.ocap
    if isinstance(kind, dict):
        return int(kind["face"]), kind.get("ocap")
    if item.get("kind") == "certificate":
        return int(item["price"]), item.get("ocap")
    return None


class Tenders(TillPart):
    """Certificates tendered in the sales of one till, and those it sells."""

    def used_here(self, cert_id: str) -> int:
        """Kopecks this till has taken from ``cert_id`` in committed sales (any mode)."""
        with self.ctx.db.lock:
            row = self.ctx.db.conn.execute(
                "SELECT COALESCE(SUM(amount), 0) FROM agent_cert_tender WHERE cert_id = ?",
                (cert_id,)).fetchone()
        return int(row[0])

    def due(self, s: Session) -> int:
        """What the sale still asks for after its tenders (never below 0)."""
        paid = int(((s.result or {}).get("totals") or {}).get("paid", 0))
        return max(0, paid - sum(int(t["amount"]) for t in s.tenders))

    def tender(self, sid: str, code: str) -> Session:
        """Pay part or all of an open sale with a certificate (a second scan changes nothing)."""
        with self.ctx.lock:
            s = self.ctx.book.get(sid)
            s.require_open("tender")
            try:
                cert = verify_certificate(code, self.ctx.catalog.keys, now=self.ctx.clock(),
                                          program=self.ctx.program)
            except TokenError as exc:
                words = MESSAGES.get(exc.reason)
                raise CodeRefused(exc.reason, words or exc.message, code=code) from exc
            if any(t["cert_id"] == cert.cert_id for t in s.tenders):
                return s
            due = self.due(s)
            if due <= 0:
                raise CodeRefused("nothing_due", MESSAGES["nothing_due"], code=code)
            tender = self._online(s, cert, due, code)
            if tender is None:
                tender = self._offline(cert, due, code)
            s.tenders.append(tender)
            log.info("session %s: certificate %s pays %d (%s)", s.id, cert.cert_id[-4:],
                     tender["amount"], tender["mode"])
            self.ctx.book.journal(s)
            self.ctx.book.publish(s, "tender")
            return s

    def _online(self, s: Session, cert: CertCode, due: int, code: str) -> dict[str, Any] | None:
        ask = getattr(self.ctx.ledger, "cert_hold", None)
        if ask is None:
            return None
        try:
            got = ask(cert.cert_id, due, s.txn_id, self.ctx.hold_budget_s)
        except LedgerUnavailable as exc:
            log.info("certificate hold failed (%s): offline rules", exc.reason)
            return None
        except SessionError as exc:  # the ledger's refusal: unknown, spent, expired
            raise CodeRefused(exc.reason, MESSAGES.get(exc.reason, exc.message), code=code) from exc
        amount = tender_amount(due, int(got["amount"]))
        return {"cert_id": cert.cert_id, "amount": amount, "mode": "online",
                "hold_id": str(got["hold_id"]),
                "remaining": int(got.get("remaining", 0)) + int(got["amount"]) - amount}

    def _offline(self, cert: CertCode, due: int, code: str) -> dict[str, Any]:
        if not cert.signed or cert.face is None or cert.ocap is None:
            raise CodeRefused("certificate_online_only", MESSAGES["certificate_online_only"], code=code)
        allowed = offline_allowance(cert.face, cert.ocap, self.used_here(cert.cert_id))
        if allowed <= 0:
            raise CodeRefused("certificate_offline_cap", MESSAGES["certificate_offline_cap"], code=code)
        return {"cert_id": cert.cert_id, "amount": tender_amount(due, allowed), "mode": "offline"}

    def release(self, s: Session) -> None:
        """A cancelled sale gives its certificate holds back (best effort: else they lapse)."""
        give_back = getattr(self.ctx.ledger, "cert_release", None)
        for t in s.tenders:
            if t.get("hold_id") and give_back is not None:
                try:
                    give_back(t["cert_id"], t["hold_id"], self.ctx.hold_budget_s)
                except LedgerUnavailable:
                    log.info("certificate hold not released now; it lapses on the ledger")

    def fit(self, s: Session) -> None:
        """Before the commit: tenders never pay more than the sale asks (no change given)."""
        paid = int(((s.result or {}).get("totals") or {}).get("paid", 0))
        kept: list[dict[str, Any]] = []
        for t in s.tenders:
            amount = min(int(t["amount"]), paid)
            paid -= amount
            if amount:
                if t.get("remaining") is not None:
                    t = dict(t, remaining=int(t["remaining"]) + int(t["amount"]) - amount)
                kept.append(dict(t, amount=amount))
        s.tenders = kept

    def txn_member(self, s: Session) -> dict[str, Any] | None:
        """The TXN's ``certificates``: those the sale sells (new ids) and those it takes."""
        sold = []
        for line in s.lines:
            found = certificate_item(self.ctx.catalog, line["sku"])
            if found is not None:
                sold += [{"cert_id": uuid.uuid4().hex, "sku": line["sku"], "face": found[0]}
                         for _ in range(int(line["qty"]))]
        tenders = [{k: t[k] for k in ("cert_id", "amount", "mode", "hold_id", "remaining") if t.get(k) is not None}
                   for t in s.tenders]
        if not sold and not tenders:
            return None
        return {"sold": sold, "tenders": tenders}

    def codes(self, txn: dict[str, Any]) -> dict[str, str]:
        """After the commit, online: the signed codes of the certificates the sale sold, to print
        (each asked within the hold budget; none when the ledger does not answer)."""
        ask = getattr(self.ctx.ledger, "cert_reserve", None)
        out: dict[str, str] = {}
        for c in (txn.get("certificates") or {}).get("sold", []):
            if ask is None:
                break
            try:
                out[c["cert_id"]] = ask(c["cert_id"], c["sku"], c["face"], txn["bundle_version"],
                                        txn["txn_id"], self.ctx.hold_budget_s)
            except LedgerUnavailable as exc:
                log.info("certificate code not fetched (%s): its number is printed", exc.reason)
                break
        return out

    def commit_rows(self, txn: dict[str, Any], now: float) -> list[tuple[str, Any]]:
        """The ``agent_cert_tender`` rows written with the sale (one SQLite transaction)."""
        return [("INSERT INTO agent_cert_tender (txn_id, cert_id, amount, mode, at_epoch) "
                 "VALUES (?, ?, ?, ?, ?)", (txn["txn_id"], t["cert_id"], t["amount"], t["mode"], now))
                for t in (txn.get("certificates") or {}).get("tenders", [])]
