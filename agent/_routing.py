"""What a scanned code is (till.md §1), before anything changes.

The routing order is the spec's: a receipt id, a check digit, an item (its
own code, or a scale label), a coupon, a customer (card or token). A code
the till will not take is a ``CodeRefused`` with its reason.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from fastcore import ean13_valid, mask_card, qty_text

from ._catalog import Catalog
from ._certificates import looks_like_certificate
from ._errors import CodeRefused
from ._token import _strip_line_ending

#: The QR at the bottom of a receipt: ``<till>/<seq>`` (till.md §1, first).
RECEIPT_ID = re.compile(r"[A-Za-z0-9_.-]+/[0-9]+")


@dataclass(frozen=True)
class Routed:
    """What a scanned code turned out to be (till.md §1), before anything changes.

    ``kind``: ``receipt`` (returns desk), ``item`` (a line of ``qty``),
    ``coupon``, ``certificate`` (a gift certificate, to pay with),
    ``customer`` (a card or a token, to identify).
    """

    kind: str
    code: str
    sku: str | None = None
    qty: str | None = None


def route_code(code: str, cat: Catalog) -> Routed:
    """What a scanned code is, in till.md §1's order; nothing changes here.

    Raises ``CodeRefused`` (``bad_check_digit``, ``needs_weight``,
    ``unknown_item``, ``bad_weight``, ``unknown_code``). A card or a
    token is only *recognised* here; token.md's checks run on identify.
    """
    if not isinstance(code, str):
        raise CodeRefused("unknown_code", "not a code", code=str(code))
    code = _strip_line_ending(code)
    if RECEIPT_ID.fullmatch(code):
        return Routed("receipt", code)
    thirteen = len(code) == 13 and code.isascii() and code.isdigit()
    if thirteen and not ean13_valid(code):
        raise CodeRefused("bad_check_digit", "the check digit is wrong: scan again", code=code)
    if code in cat.items:
        if cat.unit(code) == "kg":
            # A weighed item's own code carries no weight: a cashier
            # expects the till to ask for it, not to sell 1 or 0.005 kg.
            raise CodeRefused("needs_weight", f"{cat.name(code)} is sold by weight: weigh it on the "
                              "scale and scan the label, or type the weight", code=code)
        return Routed("item", code, sku=code, qty="1")
    if thirteen and code[:2] in cat.weight_prefixes:
        sku = cat.plu.get(code[2:7])
        if sku is None:
            raise CodeRefused("unknown_item", f"no weighed item with scale code {code[2:7]}", code=code)
        grams = int(code[7:12])
        if grams == 0:
            raise CodeRefused("bad_weight", "the label shows no weight: weigh the item again", code=code)
        return Routed("item", code, sku=sku, qty=qty_text(grams))
    if code in cat.coupons:
        return Routed("coupon", code)
    if looks_like_certificate(code):  # a gift certificate (docs/certificates.md): a tender
        return Routed("certificate", code)
    if (thirteen and code[:2] in cat.card_prefixes) or code.count(".") == 2:
        return Routed("customer", code)
    raise CodeRefused("unknown_code", "Not an item or a coupon, and not a loyalty card or app code: "
                      "scan it again or type it.", code=code)


def shown_code(code: str, catalog: Catalog) -> str:
    """A refused code as the screen and the event stream may show it: a
    card-shaped number masked, a token-shaped code never."""
    if code.count(".") == 2:
        return "<token>"
    if len(code) == 13 and code[:2] in catalog.card_prefixes:
        return mask_card(code)
    return code
