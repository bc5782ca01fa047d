"""Gift certificates on the ledger (docs/certificates.md).

A certificate is money the chain owes its holder: ``certificates.balance``
(kopecks, never below zero) always equals the sum of its
``certificate_entries`` (``issue`` +face, ``redeem`` −what was taken), as
the points balance equals its journal; ``check`` proves it. Entry ids are
deterministic (``<txn_id>:issue:<cert>``, ``<txn_id>:tender:<i>``), so a
sale applied twice can never count twice.

A till sells a certificate (the sale TXN names it under ``certificates.sold``
with the id the till made) and the ledger activates it when the sale
arrives; a till spends one as a tender (``certificates.tenders``): online
against a hold (``place_hold``) placed within the balance, offline only
within the code's ``ocap``. The sale happened and the money was taken at
the till, so a tender is never a reason to refuse the sale: the ledger
takes what the certificate still has, and what it could not take
(``shortfall``: the same certificate spent at two offline tills) is kept
on the entry and reported (``_certflags``).
"""
from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import msgspec
from fastcore import CERT_KIND, CERT_VALID_DAYS, MAX_INT, b64url_decode, b64url_encode, cert_claims, cert_sign

from . import _holds
from ._clock import utc_text
from ._errors import RequestError, TxnRefused
from ._keys import active_key
from ._schemas import CertTender, TxnCertificates
from ._storage import Storage, Tx

HOLD_TTL = timedelta(minutes=15)
#: a certificate id: what the till makes (32 hex digits) or head office's ``kopilka ledger cert issue``
CERT_ID = re.compile(r"[A-Za-z0-9-]{8,64}")
MAX_LIST = 500


def _refused(field: str, message: str) -> TxnRefused:
    return TxnRefused("invalid", message, field)


def new_cert_id() -> str:
    """A fresh certificate id (128 random bits: printed on receipts, never guessable)."""
    return uuid.uuid4().hex


def hold_id_for(cert_id: str) -> str:
    """A new hold id that carries its certificate (routed to its shard without a look-up)."""
    return uuid.uuid4().hex + "." + b64url_encode(cert_id.encode("ascii"))


def cert_of_hold(hold_id: str) -> str | None:
    head, _, tail = hold_id.partition(".")
    raw = b64url_decode(tail) if len(head) == 32 and tail else None
    if raw is None:
        return None
    text = raw.decode("ascii", "replace")
    return text if CERT_ID.fullmatch(text) else None


def _iso(text: str) -> str:
    return text[:19] + "Z" if text.endswith("Z") else text


# -- issuing -----------------------------------------------------------------

def create(tx: Tx, cert_id: str, face: int, ocap: int | None, valid_days: int, now: datetime,
           *, sku: str | None = None, till: str | None = None, store: str | None = None,
           txn_id: str | None = None) -> bool:
    """Create and activate a certificate with its ``issue`` entry; False if it exists."""
    now_text = utc_text(now)
    expires = utc_text(now + timedelta(days=valid_days))
    added = tx.execute(
        "INSERT INTO certificates (cert_id, sku, face, balance, ocap, state, till, store, txn_id, "
        "issued_at, expires_at) VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        (cert_id, sku, face, face, ocap, till, store, txn_id, now_text, expires))
    if added != 1:
        return False
    tx.execute("INSERT INTO certificate_entries (cert_id, entry_id, kind, amount, claimed, "
               "shortfall, mode, till, store, txn_id, note, at) "
               "VALUES (?, ?, 'issue', ?, ?, 0, NULL, ?, ?, ?, NULL, ?)",
               (cert_id, f"{txn_id or 'office'}:issue:{cert_id}", face, face, till, store, txn_id,
                now_text))
    return True


def _activate(tx: Tx, cert_id: str, face: int, till: str, store: str, txn_id: str, at: str) -> None:
    tx.execute("UPDATE certificates SET state = 'active', balance = balance + ? WHERE cert_id = ?",
               (face, cert_id))
    tx.execute("INSERT INTO certificate_entries (cert_id, entry_id, kind, amount, claimed, "
               "shortfall, mode, till, store, txn_id, note, at) "
               "VALUES (?, ?, 'issue', ?, ?, 0, NULL, ?, ?, ?, NULL, ?)",
               (cert_id, f"{txn_id}:issue:{cert_id}", face, face, till, store, txn_id, at))


def reserve(tx: Tx, cert_id: str, sku: str, face: int, version: int, till: str, store: str,
            txn_id: str, now: datetime) -> None:
    """A certificate a till has just sold, before its sale is uploaded: ``pending``
    (balance 0, nothing to spend) so that its signed code can be printed now; the
    sale activates it. The same till and sale asking again is answered the same."""
    item = _catalog_item(tx, version, sku)
    if item is None:
        raise RequestError("invalid", f"bundle version {version} is unknown to the ledger",
                           "bundle_version")
    if item.get("kind") != CERT_KIND or item.get("price") != face:
        raise RequestError("invalid", f"{sku} of bundle {version} is not a certificate of face {face}",
                           "face")
    days = int(item.get("valid_days") or CERT_VALID_DAYS)
    added = tx.execute(
        "INSERT INTO certificates (cert_id, sku, face, balance, ocap, state, till, store, txn_id, "
        "issued_at, expires_at) VALUES (?, ?, ?, 0, ?, 'pending', ?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        (cert_id, sku, face, item.get("ocap"), till, store, txn_id, utc_text(now),
         utc_text(now + timedelta(days=days))))
    if added != 1:
        row = tx.one("SELECT till, txn_id, face FROM certificates WHERE cert_id = ?", (cert_id,))
        if row is None or row[0] != till or row[1] != txn_id or int(row[2]) != face:
            raise RequestError("forbidden", "this certificate id belongs to another sale", "cert_id")


def _catalog_item(tx: Tx, version: int, sku: str) -> dict[str, Any] | None:
    row = tx.one("SELECT body FROM bundles WHERE version = ?", (version,))
    if row is None:
        return None
    for item in json.loads(str(row[0])).get("catalog") or []:
        if isinstance(item, dict) and item.get("sku") == sku:
            return item
    return {}


def parse_txn(raw: dict[str, Any]) -> TxnCertificates | None:
    """The ``certificates`` member of a TXN, checked (``TxnRefused`` invalid, with the field)."""
    body = raw.get("certificates")
    if body is None:
        return None
    try:
        shape = msgspec.convert(body, TxnCertificates, strict=True)
    except msgspec.ValidationError as exc:
        text = str(exc)
        where = text.split(" - at `$", 1)[1].rstrip("`") if " - at `$" in text else ""
        raise _refused("certificates" + where, text.split(" - at ", 1)[0]) from exc
    seen: set[str] = set()
    for i, sold in enumerate(shape.sold):
        if sold.cert_id in seen:
            raise _refused(f"certificates.sold[{i}].cert_id", "a certificate is named twice")
        seen.add(sold.cert_id)
    used: set[str] = set()
    for i, tender in enumerate(shape.tenders):
        if tender.cert_id in used or tender.cert_id in seen:
            raise _refused(f"certificates.tenders[{i}].cert_id",
                           "a certificate is tendered twice, or in the sale that sells it")
        used.add(tender.cert_id)
    return shape


def _sold_units(result: Any, sku: str) -> int:
    total = 0
    for line in (result or {}).get("lines") or []:
        if isinstance(line, dict) and line.get("sku") == sku:
            qty = line.get("qty")
            total += int(qty) if isinstance(qty, int) or (isinstance(qty, str) and qty.isdigit()) else 0
    return total


def accounts_of(plans: Iterable[Any]) -> set[str]:
    """The accounts of a batch's sales that carry certificates (applied one by one, under lock)."""
    return {p.account for p in plans if p.res.txn.raw.get("certificates")}


def apply_sale(tx: Tx, raw: dict[str, Any], txn: Any, now: datetime, for_update: str
               ) -> dict[str, Any] | None:
    """What an accepted sale does to certificates: activate those sold, take the tenders.

    Returns the summary shown in the sale's answer (None when the sale has no
    certificates). Raises ``TxnRefused`` for a TXN that cannot be right (a
    face value that is not its item's, an id taken by another sale): the
    savepoint then undoes the whole sale.
    """
    shape = parse_txn(raw)
    if shape is None:
        return None
    txn_id, till, store, version = txn.txn_id, txn.till, txn.store, txn.bundle_version
    sold_out: list[str] = []
    per_sku: dict[str, int] = {}
    for i, sold in enumerate(shape.sold):
        item = _catalog_item(tx, version, sold.sku)
        ocap, days = None, CERT_VALID_DAYS
        if item is not None:  # a bundle version the ledger does not have: the till's word
            if item.get("kind") != CERT_KIND or item.get("price") != sold.face:
                raise _refused(f"certificates.sold[{i}].face",
                               f"{sold.sku} of bundle {version} is not a certificate of face {sold.face}")
            ocap, days = item.get("ocap"), int(item.get("valid_days") or CERT_VALID_DAYS)
        per_sku[sold.sku] = per_sku.get(sold.sku, 0) + 1
        if per_sku[sold.sku] > _sold_units(raw.get("result"), sold.sku):
            raise _refused(f"certificates.sold[{i}].sku", f"the sale has no line selling {sold.sku} "
                           "for this certificate")
        if not create(tx, sold.cert_id, sold.face, ocap, days, now, sku=sold.sku, till=till,
                      store=store, txn_id=txn_id):
            row = tx.one("SELECT txn_id, till, state, face FROM certificates WHERE cert_id = ?"
                         + for_update, (sold.cert_id,))
            if row is None or row[0] != txn_id or row[1] != till or int(row[3]) != sold.face:
                raise _refused(f"certificates.sold[{i}].cert_id",
                               "this certificate id belongs to another sale")
            if row[2] == "pending":  # its code was printed before the sale arrived: activate it
                _activate(tx, sold.cert_id, sold.face, till, store, txn_id, utc_text(now))
        sold_out.append(sold.cert_id)
    tenders = [_take(tx, i, t, txn_id, till, store, now, for_update)
               for i, t in enumerate(shape.tenders)]
    return {"sold": sold_out, "tenders": tenders}


def _take(tx: Tx, i: int, tender: CertTender, txn_id: str, till: str, store: str,
          now: datetime, for_update: str) -> dict[str, Any]:
    """One tender: take what the certificate has, up to the claim; note what it could not."""
    now_text = utc_text(now)
    row = tx.one("SELECT balance, ocap, state FROM certificates WHERE cert_id = ?" + for_update,
                 (tender.cert_id,))
    note = None
    room = 0
    if row is None:
        note = "unknown_certificate"
    else:
        own = tx.one("SELECT hold_id FROM certificate_holds WHERE cert_id = ? AND till = ? AND "
                     "state IN ('active', 'expired') AND (txn_id = ? OR hold_id = ?) ORDER BY hold_id",
                     (tender.cert_id, till, txn_id, tender.hold_id or ""))
        # what other sales' holds promise stays theirs: a hold is a cashier's word
        room = max(0, int(row[0]) - _held(tx, tender.cert_id, now_text, str(own[0]) if own else ""))
        if row[2] != "active":
            note = "not_active"
        elif tender.mode == "offline" and (row[1] is None or tender.amount > int(row[1])):
            note = "beyond_ocap"
        elif tender.mode == "online" and own is None:
            note = "no_hold"
    debit = min(tender.amount, room)
    shortfall = tender.amount - debit
    if shortfall and note is None:
        note = "overspent"
    if row is not None:
        tx.execute("UPDATE certificates SET balance = balance - ? WHERE cert_id = ?",
                   (debit, tender.cert_id))
        tx.execute("UPDATE certificate_holds SET state = 'consumed', closed_at = ? WHERE cert_id = ? "
                   "AND till = ? AND state IN ('active', 'expired') AND (txn_id = ? OR hold_id = ?)",
                   (now_text, tender.cert_id, till, txn_id, tender.hold_id or ""))
    # an unknown certificate gets its entry too (balance 0, all short): the flag lists it
    tx.execute("INSERT INTO certificate_entries (cert_id, entry_id, kind, amount, claimed, "
               "shortfall, mode, till, store, txn_id, note, at) "
               "VALUES (?, ?, 'redeem', ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
               (tender.cert_id, f"{txn_id}:tender:{i}", -debit, tender.amount, shortfall,
                tender.mode, till, store, txn_id, note, now_text))
    return {"cert_id": tender.cert_id, "claimed": tender.amount, "debited": debit,
            "shortfall": shortfall, **({"note": note} if note else {})}


# -- holds (online tender) ----------------------------------------------------

def _held(tx: Tx, cert_id: str, now_text: str, excluding: str = "") -> int:
    row = tx.one("SELECT COALESCE(SUM(amount), 0) FROM certificate_holds WHERE cert_id = ? AND "
                 "state = 'active' AND expires_at > ? AND hold_id <> ?",
                 (cert_id, now_text, excluding))
    return int(row[0]) if row else 0


def place_hold(storage: Storage, till: str, store: str, cert_id: str, amount: int, txn_id: str,
               now: datetime, ttl: timedelta = HOLD_TTL) -> dict[str, Any]:
    """Hold ``min(amount, available)`` of a certificate for one sale (same sale: resized).

    404 ``unknown_certificate``; 409 ``certificate_expired`` / ``certificate_spent``
    (nothing left to hold) / ``hold_closed`` (that sale's hold was used).
    """
    now_text = utc_text(now)
    expires = now + ttl
    with storage.transaction() as tx:
        row = tx.one("SELECT balance, expires_at, state FROM certificates WHERE cert_id = ?"
                     + storage.for_update, (cert_id,))
        if row is None:
            raise RequestError("unknown_certificate", "no such certificate", "cert_id")
        if row[2] != "active":
            raise RequestError("certificate_not_active", "the sale that sold this certificate has "
                               "not reached head office yet", "cert_id")
        if str(row[1]) <= now_text:
            raise RequestError("certificate_expired", f"the certificate expired at {_iso(str(row[1]))}",
                               "cert_id")
        tx.execute("UPDATE certificate_holds SET state = 'expired', closed_at = expires_at "
                   "WHERE cert_id = ? AND state = 'active' AND expires_at <= ?", (cert_id, now_text))
        same = tx.one("SELECT hold_id, state, till FROM certificate_holds WHERE cert_id = ? AND "
                      "txn_id = ?", (cert_id, txn_id))
        if same is not None and same[2] != till:
            raise RequestError("forbidden", "that sale's hold belongs to another till", "txn_id")
        if same is not None and same[1] != "active":
            raise RequestError("hold_closed", f"the hold for this sale is {same[1]}", "txn_id")
        available = int(row[0]) - _held(tx, cert_id, now_text, str(same[0]) if same else "")
        take = min(amount, available)
        if take <= 0:
            raise RequestError("certificate_spent", "nothing is left on this certificate",
                               "cert_id", available=max(available, 0))
        if same is not None:
            hold_id = str(same[0])
            tx.execute("UPDATE certificate_holds SET amount = ?, expires_at = ? WHERE cert_id = ? "
                       "AND hold_id = ?", (take, utc_text(expires), cert_id, hold_id))
        else:
            hold_id = hold_id_for(cert_id)
            tx.execute("INSERT INTO certificate_holds (cert_id, hold_id, txn_id, amount, till, store, "
                       "state, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?)",
                       (cert_id, hold_id, txn_id, take, till, store, now_text, utc_text(expires)))
    return {"hold_id": hold_id, "cert_id": cert_id, "amount": take,
            "remaining": available - take,
            "expires_at": expires.isoformat(timespec="seconds").replace("+00:00", "Z")}


def release_hold(storage: Storage, till: str, cert_id: str, hold_id: str, now: datetime) -> None:
    """Give a hold back (twice is fine); 409 once its sale used it; 403 for another till's."""
    if cert_of_hold(hold_id) != cert_id:
        raise RequestError("unknown_hold", "no such hold", "hold_id")
    with storage.transaction() as tx:
        _holds.release_row(tx, "certificate_holds", "cert_id", cert_id, hold_id, till, utc_text(now))


# -- reading -----------------------------------------------------------------

def show(tx: Tx, cert_id: str, now: datetime) -> dict[str, Any] | None:
    """A certificate: face, balance, what is held, its entries (oldest first)."""
    row = tx.one("SELECT cert_id, sku, face, balance, ocap, state, till, store, txn_id, issued_at, "
                 "expires_at FROM certificates WHERE cert_id = ?", (cert_id,))
    if row is None:
        return None
    now_text = utc_text(now)
    held = _held(tx, cert_id, now_text)
    entries = [{"entry_id": str(e[0]), "kind": str(e[1]), "amount": int(e[2]),
                "claimed": int(e[3]), "shortfall": int(e[4]), "mode": e[5], "till": e[6],
                "txn_id": e[7], "note": e[8], "at": _iso(str(e[9]))}
               for e in tx.all("SELECT entry_id, kind, amount, claimed, shortfall, mode, till, "
                               "txn_id, note, at FROM certificate_entries WHERE cert_id = ? "
                               "ORDER BY at, CASE kind WHEN 'issue' THEN 0 ELSE 1 END, shortfall, entry_id",
                               (cert_id,))]
    return {"cert_id": str(row[0]), "sku": row[1], "face": int(row[2]), "balance": int(row[3]),
            "held": held, "available": max(0, int(row[3]) - held),
            "ocap": None if row[4] is None else int(row[4]), "state": str(row[5]),
            "till": row[6], "store": row[7], "txn_id": row[8], "issued_at": _iso(str(row[9])),
            "expires_at": _iso(str(row[10])),
            "expired": str(row[10]) <= now_text, "entries": entries}


def code(tx: Tx, cert_id: str, program: str, now: datetime) -> str | None:
    """The certificate's signed code (to print as a QR), or None for an unknown id."""
    row = tx.one("SELECT face, ocap, issued_at, expires_at FROM certificates WHERE cert_id = ?",
                 (cert_id,))
    if row is None:
        return None
    kid, key = active_key(tx, utc_text(now))
    iat = int(datetime.fromisoformat(_iso(str(row[2])).replace("Z", "+00:00")).timestamp())
    exp = int(datetime.fromisoformat(_iso(str(row[3])).replace("Z", "+00:00")).timestamp())
    return cert_sign(cert_claims(program, cert_id, int(row[0]),
                                 None if row[1] is None else int(row[1]), iat, exp), kid, key)


def listing(tx: Tx, limit: int = 100) -> list[dict[str, Any]]:
    """Certificates, newest first: id, face, balance, state, where sold."""
    return [{"cert_id": str(r[0]), "face": int(r[1]), "balance": int(r[2]), "state": str(r[3]),
             "till": r[4], "issued_at": _iso(str(r[5])), "expires_at": _iso(str(r[6]))}
            for r in tx.all("SELECT cert_id, face, balance, state, till, issued_at, expires_at FROM "
                            "certificates ORDER BY issued_at DESC, cert_id LIMIT ?",
                            (min(max(limit, 1), MAX_LIST),))]


def check(tx: Tx) -> list[tuple[str, int | None, int]]:
    """Certificates whose balance differs from the sum of their entries (or entries without one)."""
    rows = tx.all("SELECT c.cert_id, c.balance, COALESCE(SUM(e.amount), 0) FROM certificates c "
                  "LEFT JOIN certificate_entries e ON e.cert_id = c.cert_id "
                  "GROUP BY c.cert_id, c.balance HAVING c.balance <> COALESCE(SUM(e.amount), 0) "
                  "ORDER BY c.cert_id")
    out: list[tuple[str, int | None, int]] = [(str(r[0]), int(r[1]), int(r[2])) for r in rows]
    orphans = tx.all("SELECT e.cert_id, SUM(e.amount) FROM certificate_entries e LEFT JOIN "
                     "certificates c ON c.cert_id = e.cert_id WHERE c.cert_id IS NULL "
                     "GROUP BY e.cert_id HAVING SUM(e.amount) <> 0 ORDER BY e.cert_id")
    out.extend((str(r[0]), None, int(r[1])) for r in orphans)
    return out


def program_of(tx: Tx) -> str:
    """The programme id a code carries (``iss``): the newest bundle's, as tokens do."""
    row = tx.one("SELECT body FROM bundles ORDER BY version DESC LIMIT 1")
    prog = (json.loads(str(row[0])).get("program") or {}) if row else {}
    return str(prog.get("id") or "kopilka")


class CertificateDesk:
    """Every certificate operation of one ledger database (the CLI and HTTP both use it)."""

    def __init__(self, storage: Storage, clock: Any) -> None:
        self.storage, self.clock = storage, clock

    def issue(self, face: int, ocap: int | None = None, valid_days: int = CERT_VALID_DAYS
              ) -> dict[str, Any]:
        """Head office issues a certificate (no till sale): active now; with its code."""
        if not 0 < face <= MAX_INT:
            raise RequestError("invalid", "face must be an integer from 1 to 2^53 − 1", "face")
        if ocap is not None and not 0 < ocap <= face:
            raise RequestError("invalid", "ocap must be an integer from 1 to the face value", "ocap")
        if not 1 <= valid_days <= 36600:
            raise RequestError("invalid", "valid_days must be from 1 to 36600", "valid_days")
        cert_id, now = new_cert_id(), self.clock()
        with self.storage.transaction() as tx:
            create(tx, cert_id, face, ocap, valid_days, now)
        return self.show(cert_id, with_code=True)

    def show(self, cert_id: str, *, with_code: bool = False) -> dict[str, Any]:
        """A certificate (404-style ``unknown_certificate``), with its code when asked."""
        if not CERT_ID.fullmatch(cert_id):
            raise RequestError("unknown_certificate", "no such certificate", "cert_id")
        now = self.clock()
        with self.storage.transaction() as tx:
            found = show(tx, cert_id, now)
            if found is None:
                raise RequestError("unknown_certificate", "no such certificate", "cert_id")
            if with_code:
                found["code"] = code(tx, cert_id, program_of(tx), now)
        return found

    def all(self, limit: int = 100) -> list[dict[str, Any]]:
        """Certificates, newest first (at most ``limit``, up to 500)."""
        with self.storage.transaction() as tx:
            return listing(tx, limit)

    def hold(self, till: str, store: str, cert_id: str, amount: int, txn_id: str) -> dict[str, Any]:
        if not CERT_ID.fullmatch(cert_id):
            raise RequestError("unknown_certificate", "no such certificate", "cert_id")
        return place_hold(self.storage, till, store, cert_id, amount, txn_id, self.clock())

    def reserve(self, till: str, store: str, cert_id: str, sku: str, face: int, version: int,
                txn_id: str) -> dict[str, Any]:
        """A till's just-sold certificate, pending until its sale arrives; with its code."""
        if not CERT_ID.fullmatch(cert_id):
            raise RequestError("invalid", "cert_id: 8 to 64 letters, digits or '-'", "cert_id")
        now = self.clock()
        with self.storage.transaction() as tx:
            reserve(tx, cert_id, sku, face, version, till, store, txn_id, now)
            return {"cert_id": cert_id, "code": code(tx, cert_id, program_of(tx), now)}

    def release(self, till: str, cert_id: str, hold_id: str) -> None:
        release_hold(self.storage, till, cert_id, hold_id, self.clock())

    def check(self) -> list[tuple[str, int | None, int]]:
        with self.storage.transaction() as tx:
            return check(tx)
