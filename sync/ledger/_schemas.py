"""The shapes of the ledger's request bodies and TXNs, as msgspec Structs.

One source for two uses: the API checks a body with ``check(body, Shape)``
(a ``msgspec.ValidationError`` becomes ``RequestError("invalid")`` naming
the field as the protocol does: ``$.transactions[3].seq`` →
``transactions[3].seq``), and ``_openapi`` builds the document's schemas
from these same classes (``msgspec.json.schema_components``), so the
document states each rule the ledger enforces: the bounds ``0 … 2^53 − 1``,
identifiers without control characters, the card's 13 digits, the enums.

What a schema cannot say stays in code next to its use and in the field's
description: a card's check digit, a ``txn_id`` that ``uuid.UUID`` reads,
the ``till``/``store`` of the key (403), the TXN hash. The TXNs of an
upload are converted one by one to ``Txn`` by ``_txn.validate`` (a bad TXN
is answered ``rejected`` in a 200, not a 400, with the same field path).
"""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from fastcore import MAX_INT

from ._errors import RequestError

#: no C0 control character and no DEL (PostgreSQL refuses NUL; none is ever needed)
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
MAX_IDENT = 256
MAX_BATCH = 5000
CARD_EXAMPLE = "2900000123458"
UUID_EXAMPLE = "6f1c1b1e-3a52-4c1e-9a55-6c1a0f6b2d10"

Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_IDENT, pattern=NO_CONTROL,
                                    description="an identifier: 1 to 256 characters, no "
                                                "control characters")]
Text = Annotated[str, msgspec.Meta(max_length=MAX_IDENT, pattern=NO_CONTROL)]
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)]
Positive = Annotated[int, msgspec.Meta(ge=1, le=MAX_INT)]
Card = Annotated[str, msgspec.Meta(
    pattern=r"^[0-9]{13}$", examples=[CARD_EXAMPLE],
    description="an EAN-13 card number (13 digits, the last one its check digit)")]
TxnId = Annotated[str, msgspec.Meta(
    min_length=1, max_length=MAX_IDENT, pattern=NO_CONTROL, examples=[UUID_EXAMPLE],
    extra_json_schema={"format": "uuid"}, description="a UUID")]
Hex64 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class UploadBody(msgspec.Struct):
    """``POST /v1/transactions``: a batch of the till's TXNs."""

    till: Ident
    store: Ident
    transactions: Annotated[list[Any], msgspec.Meta(
        min_length=1, max_length=MAX_BATCH,
        extra_json_schema={"items": {"$ref": "#/components/schemas/Txn"}})]


class HeartbeatBody(msgspec.Struct):
    """``POST /v1/heartbeat``: the till's health."""

    till: Ident
    store: Ident
    queue_depth: Count
    oldest_unsynced_age_s: Annotated[float, msgspec.Meta(ge=0, le=MAX_INT)] | None = None
    bundle_version: Count | None = None
    agent_version: Ident | None = None
    at: Ident | None = None
    hardware: Annotated[dict[Text, Text], msgspec.Meta(max_length=64)] | None = None


class HoldBody(msgspec.Struct):
    """``POST /v1/holds``: hold points for an online redemption."""

    till: Ident
    account: Ident
    points: Positive
    txn_id: TxnId
    store: Ident | None = None


class TokenBody(msgspec.Struct):
    """``POST /v1/tokens``: the app asks for a card's signed token."""

    card: Card


class EnrolBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /v1/enrolments``: a till enrols a new card now (docs/enrolment.md)."""

    till: Ident
    card: Card
    store: Ident | None = None
    registration: Annotated[str, msgspec.Meta(
        pattern=r"^[A-Za-z0-9_-]{8,64}$",
        description="the app's registration id (from its registration QR code)")] | None = None


class RegistrationBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /v1/registrations``: the app's pending sign-up (docs/enrolment.md)."""

    phone_hash: Annotated[str, msgspec.Meta(
        pattern=r"^[0-9a-f]{64}$",
        description="hex SHA-256 of the phone number (never the number itself)")] | None = None


class ReEnrolBody(msgspec.Struct):
    """``POST /v1/tills/me/re-enrol``: a wiped till starts again."""

    till: Ident
    store: Ident


class Customer(msgspec.Struct):
    """The customer of a TXN: an account, a card, or both (and a token's claims)."""

    account: Ident | None = None
    card: Card | None = None
    jti: Ident | None = None
    claims: dict[str, Any] | None = None


#: a quantity as text: digits, optionally a point and decimals (at most three of
#: value: ``"1.500"`` is 1.5). Stated here for the document; ``_txn.qty_milli``
#: checks it with the value (> 0, exact thousandths) in one cached step: as a
#: msgspec pattern it cost a sixth more per TXN (a regex call on every line).
QTY_TEXT = r"^[0-9]{1,16}(\.[0-9]{1,16})?$"
Quantity = Annotated[str, msgspec.Meta(
    extra_json_schema={"pattern": QTY_TEXT},
    description="a decimal quantity > 0 with at most 3 decimals of value")] | Count


class ReturnedLine(msgspec.Struct):
    """One line of a return: the sale's line number and the quantity returned."""

    line: Count
    qty: Quantity


class Figures(msgspec.Struct):
    """The figures of a priced line or of the totals (spec §7): kopecks and points."""

    amount: Count = 0
    discount: Count = 0
    redeemed: Count = 0
    paid: Count = 0
    points: Count = 0


class ResultLine(Figures, kw_only=True):
    """One priced line of a TXN's result; its quantity is required."""

    qty: Quantity


class Totals(Figures):
    """The totals of a TXN's result; a sale must have them."""

    redeemed_points: Count = 0


class Bonus(msgspec.Struct):
    """The points of a sale by source; welcome + birthday never exceed ``totals.points``."""

    lines: Count = 0
    promo: Count = 0
    welcome: Count = 0
    birthday: Count = 0


class Priced(msgspec.Struct):
    """The engine's result of a TXN (spec §7); other members are kept, not read."""

    lines: list[ResultLine]
    totals: Totals | None = None
    bonus: Bonus | None = None


CertId = Annotated[str, msgspec.Meta(
    pattern=r"^[A-Za-z0-9-]{8,64}$", examples=["3f2a9c1e5b7d4e0f8a6c2b1d9e7f5a3c"],
    description="a gift certificate id: 8 to 64 letters, digits or '-'")]
Kopecks = Annotated[int, msgspec.Meta(ge=1, le=MAX_INT)]


class CertSold(msgspec.Struct, forbid_unknown_fields=True):
    """A certificate the sale sold: activated by the ledger when the sale arrives."""

    cert_id: CertId
    sku: Ident
    face: Kopecks


class CertTender(msgspec.Struct, forbid_unknown_fields=True):
    """A certificate tendered in payment: ``amount`` kopecks taken from it (docs/certificates.md)."""

    cert_id: CertId
    amount: Kopecks
    mode: Literal["online", "offline"]
    hold_id: Ident | None = None
    #: what the till was told is left on it (printed on the receipt; the ledger's entries decide)
    remaining: Count | None = None


class TxnCertificates(msgspec.Struct, forbid_unknown_fields=True):
    """A sale's gift certificates: sold (to activate) and tendered (to debit)."""

    sold: Annotated[list[CertSold], msgspec.Meta(max_length=100)] = []
    tenders: Annotated[list[CertTender], msgspec.Meta(max_length=20)] = []


class CertHoldBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /v1/certificates/{cert_id}/holds``: hold up to ``amount`` for one sale."""

    till: Ident
    txn_id: TxnId
    amount: Kopecks


class CertReserveBody(msgspec.Struct, forbid_unknown_fields=True):
    """``PUT /v1/certificates/{cert_id}`` (till key): a certificate just sold, for its code now."""

    till: Ident
    txn_id: TxnId
    sku: Ident
    face: Kopecks
    bundle_version: Count


class CertIssueBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /v1/certificates`` (office key): issue a certificate at head office."""

    face: Kopecks
    ocap: Kopecks | None = None
    valid_days: Annotated[int, msgspec.Meta(ge=1, le=36600)] = 365


class Txn(msgspec.Struct):
    """One till transaction (docs/sync-protocol.md, "TXN"); ``hash`` covers the rest.

    The ledger converts each uploaded TXN to this shape (``_txn.validate``);
    what a schema cannot say is checked there: the UUID, the instant, the
    reserved accounts, a return's lines, every number in ``basket`` and
    ``claims``, the hash chain.
    """

    txn_id: TxnId
    till: Ident
    store: Ident
    seq: Positive
    kind: Literal["sale", "return", "enrol"]
    at: Annotated[str, msgspec.Meta(
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
                r"([Zz]|[+-][0-9]{2}:[0-9]{2})$",
        description="an ISO-8601 instant with its offset")]
    mode: Literal["online", "offline"]
    basket: dict[str, Any]
    result: Priced
    bundle_version: Count
    engine_version: Ident
    prev_hash: Hex64
    hash: Hex64
    customer: Customer | None = None
    hold_id: Ident | None = None
    original_txn_id: TxnId | None = None
    original_till: Ident | None = None
    returned: list[ReturnedLine] | None = None
    certificates: TxnCertificates | None = None
    #: an ``enrol`` TXN (docs/enrolment.md): the app registration the new card is linked to
    registration: Ident | None = None


#: the Structs the OpenAPI document describes (``#/components/schemas/<name>``)
SCHEMAS: tuple[type[msgspec.Struct], ...] = (
    UploadBody, HeartbeatBody, HoldBody, TokenBody, ReEnrolBody, Txn)

S = TypeVar("S", bound=msgspec.Struct)
_PATH = re.compile(r" - at `\$\.?([^`]*)`")
_MISSING = re.compile(r"Object missing required field `([^`]*)`")


def field_of(error: msgspec.ValidationError) -> str:
    """The protocol's name of the field msgspec blames (``$.a[3].b`` → ``a[3].b``)."""
    text = str(error)
    found = _PATH.search(text)
    path = found.group(1).split("[...]", 1)[0] if found else ""  # a dict member: the dict
    missing = _MISSING.match(text)
    if missing is not None:  # "Object missing required field `b` - at `$.a`"
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    return path


def check(body: Any, shape: type[S]) -> S:
    """``body`` (decoded JSON) as ``shape``, or ``RequestError("invalid")`` naming the field."""
    try:
        return msgspec.convert(body, shape, strict=True)
    except msgspec.ValidationError as exc:
        field = field_of(exc)
        detail = str(exc).split(" - at `", 1)[0]
        raise RequestError("invalid", f"{field}: {detail}" if field else detail,
                           field) from exc


class FavouriteBody(msgspec.Struct, forbid_unknown_fields=True):
    """``PUT /v1/accounts/{account}/favourite``: the customer's favourite category.

    One of the programme's ``program.favorite_categories`` in the newest
    bundle (else 400 ``invalid``, field ``category``), at most once per
    ``program.favorite_change_days`` (default 30; else 409 ``favourite_too_soon``
    with ``next_change_at``)."""

    category: Annotated[str, msgspec.Meta(
        min_length=1, max_length=MAX_IDENT, pattern=NO_CONTROL, examples=["dairy"],
        description="a category path of the programme's list")]


SCHEMAS = (*SCHEMAS, FavouriteBody, CertHoldBody, CertIssueBody, CertReserveBody, EnrolBody, RegistrationBody)
