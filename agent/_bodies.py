"""The local API's request bodies and answers as msgspec Structs.

The same Structs validate the requests (``decode_body``) and make the
components of the OpenAPI document (``_openapi.py``), so the document says
exactly what the till refuses with 400: a type, a missing field, a value
outside an enum or a bound. A value of the right shape the sale cannot take
(an unknown sku, a quantity above the line ceiling) is a 404/409/422.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta, Struct

from ._errors import RequestRefused

#: A quantity: a whole number of pieces, or decimal text ("0.455" kg),
#: spec/pricing.md §2. The document states the spec's form; the sale checks
#: it against the item's unit and the line ceiling (422 ``bad_qty``,
#: ``qty_too_large``), so only the JSON type is a 400.
Qty = Annotated[
    Annotated[int, Meta(extra_json_schema={"minimum": 1})]
    | Annotated[str, Meta(extra_json_schema={"pattern": r"^[0-9]+(\.[0-9]+)?$"}, examples=["0.455"])],
    Meta(description="pieces, or decimal text with at most 3 decimals for kg")]
#: What identifies a customer (spec/token.md): a 13-digit card number or an
#: app token (three base64url parts). Another text is refused as 422
#: ``malformed`` (or ``bad_check_digit``), with the cashier's words.
CustomerCode = Annotated[str, Meta(
    description="a loyalty card number (13 digits) or the app's QR token",
    examples=["2900000123458"],
    extra_json_schema={"pattern": r"^([0-9]{13}|[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$"})]
#: A catalogue item's barcode (EAN-13, or the catalogue's own code).
Sku = Annotated[str, Meta(description="the item's barcode (catalogue sku)",
                          examples=["4607000000014"])]
#: A scanned code: an item, a scale label, a coupon, a receipt id, a card number or an app token.
ScannedCode = Annotated[str, Meta(description="what the scanner or the camera read",
                                  examples=["4607000000014", "2900000123458"])]
#: A receipt id, the QR at the bottom of a receipt: ``<till>/<seq>`` (till.md §1).
ReceiptId = Annotated[str, Meta(description="<till>/<seq>; another text is an unknown receipt (404)",
                                examples=["KY-001-01/7"])]


class AddLine(Struct, forbid_unknown_fields=False):
    """POST /v1/sessions/{sid}/lines"""

    sku: Sku
    qty: Qty = 1


class SetQty(Struct):
    """PATCH /v1/sessions/{sid}/lines/{index}"""

    qty: Qty


class Scanned(Struct):
    """POST .../scan, .../coupons"""

    code: ScannedCode


class Identify(Struct):
    """POST /v1/sessions/{sid}/identify"""

    code: CustomerCode


class Tender(Struct):
    """POST /v1/sessions/{sid}/certificates: a gift certificate pays part of the sale."""

    code: Annotated[str, Meta(max_length=4096, description="the certificate's signed code "
                              "(typ kopilka-cert+jwt) or its number KPC-<32 hex digits>")]


class Enrol(Struct):
    """POST /v1/sessions/{sid}/enrol: enrol a new card for this sale (docs/enrolment.md).

    422 ``not_a_card``, ``bad_check_digit``, ``wrong_card_prefix``; 409
    ``enrolment_off``. A card already known is identified, nothing enrolled.
    An app registration QR posted to ``.../registration`` before links it."""

    card: Annotated[str, Meta(description="the new card's number (13 digits, a programme prefix)",
                              examples=["2900000999997"])]


class Redeem(Struct):
    """POST /v1/sessions/{sid}/redeem: a number of points, or all the sale allows."""

    points: Annotated[int, Meta(ge=0)] | Literal["max"]


class Pay(Struct):
    """POST /v1/sessions/{sid}/pay"""

    method: Literal["cash", "card", "other"] = "cash"


class ReturnItem(Struct):
    """One line of a return: the sale's line index and how much comes back."""

    line: Annotated[int, Meta(ge=0)]
    qty: Qty | None = None


class ReturnRequest(Struct):
    """POST /v1/returns (the items are checked line by line against the sale, 422)."""

    receipt: ReceiptId
    items: Annotated[list[Any], Meta(description="ReturnItem objects", extra_json_schema={
        "items": {"$ref": "#/components/schemas/ReturnItem"}})]


class Refusal(Struct):
    """Every refusal: a reason code and plain words; what it is about, if anything."""

    error: str
    message: str
    field: str | None = None
    detail: str | None = None
    code: str | None = None
    code_shown: str | None = None


class Coupon(Struct):
    code: str
    applied: bool
    reason: Literal["unknown_coupon", "conditions_not_met"] | None


class Hint(Struct):
    """A cashier's hint (``fastcore.Hint``): why a promotion the basket
    reaches did or did not apply, or what would make it apply. Beside the
    priced result, never part of it; near misses come first."""

    promo: str
    kind: str
    reason: Annotated[str, Meta(description="fastcore.HINT_REASONS: applied, below_min_amount, ...")]
    scope: Annotated[str, Meta(description="basket, or the targets: category:dairy,brand:a,sku:46...")]
    near: Annotated[bool, Meta(description="a near miss: within [hints] near_percent of the threshold")]
    text: Annotated[str, Meta(description="in the till's language", examples=["add 120.00 ₽ of dairy for 10% off"])]
    missing_kop: Annotated[int, Meta(ge=0, description="kopecks more of the scope to reach it")] | None = None
    missing_qty_milli: Annotated[int, Meta(ge=0, description="thousandths of a unit more")] | None = None
    discount: Annotated[int, Meta(description="kopecks, when applied")] = 0
    points: Annotated[int, Meta(description="points, when applied")] = 0


class SessionView(Struct):
    """A sale as the POS and the cashier screen see it."""

    id: str
    state: Literal["open", "committed", "closed", "cancelled"]
    lines: list[dict[str, Any]]
    txn_id: str | None = None
    customer: dict[str, Any] | None = None
    redeem: int | str | None = None
    mode: Literal["online", "offline"] | None = None
    result: Annotated[dict[str, Any] | None, Meta(description="spec/pricing.md §7")] = None
    receipt_id: str | None = None
    coupons: list[Coupon] = []
    hints: Annotated[list[Hint], Meta(description="at most [hints] max; empty when [hints] enabled = false")] = []
    registration: Annotated[dict[str, Any] | None, Meta(
        description="the app registration scanned for the card enrolled next (docs/enrolment.md)")] = None


class Sale(Struct):
    txn_id: str
    receipt_id: str
    seq: int
    state: Literal["committed"]
    totals: dict[str, Any]
    sync: Literal["pending", "acked", "rejected"] | None = None
    kind: Literal["sale", "return"] = "sale"
    at: str | None = None
    lines: list[dict[str, Any]] = []


class ReturnView(Struct):
    receipt_id: str
    totals: dict[str, Any]
    lines: list[dict[str, Any]] = []
    receipt: str | None = None


class SyncReport(Struct):
    sent: int
    remaining: int
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    error: str | None = None


class Printed(Struct):
    printed: int
    queued: int


class Status(Struct, forbid_unknown_fields=False):
    """The till's health (``kopilka status``); more keys may follow."""

    till: str
    store: str
    queue_depth: int


T = TypeVar("T", bound=Struct)

_AT = re.compile(r"at `\$\.?(.*)`$")
_MISSING = re.compile(r"required field `([^`]+)`")


def decode_body(doc: Mapping[str, Any], kind: type[T]) -> T:
    """``doc`` as a ``kind``; a refusal names the field (``items[0].line``)."""
    try:
        return msgspec.convert(doc, kind)
    except msgspec.ValidationError as exc:
        text = str(exc)
        at, missing = _AT.search(text), _MISSING.search(text)
        where = at.group(1) if at and at.group(1) else ""
        if missing:
            where = f"{where}.{missing.group(1)}" if where else missing.group(1)
        raise RequestRefused("bad_request", text, field=where or "body") from exc
