"""Turn a scanned frame into a typed ``ScanEvent`` (or say why it is not one).

The GS1 rules are not re-implemented here: ``biip`` validates GTIN check
digits, recognises in-store Restricted Circulation Numbers (prefixes
20–29) and splits GS1 element strings. What biip cannot know is a Russian
store's scale-label layout (it has no RU rules), so a weight code is read
with ``WeightRules``: by default ``PP IIIII VVVVV C`` — two-digit prefix,
five-digit product code, five-digit weight in grams, check digit — the
layout Russian shop scales print out of the box. A chain whose labels follow
one of biip's regions sets ``region`` and biip reads them instead.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from biip import ParseConfig, ParseError
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin
from biip.rcn import Rcn, RcnUsage

from drivers._scan_event import ScanEvent, ScanKind, ScanRejected

_AIM = re.compile(r"\][A-Za-z][0-9A-Za-z]")
#: AIM identifiers whose data is GS1 element strings (FNC1 in first position)
_GS1_SYMBOLOGIES = frozenset({"]C1", "]e0", "]d2", "]Q3", "]J1"})
_DATAMATRIX = frozenset({"]d1", "]d2"})


@dataclass(frozen=True)
class WeightRules:
    """How in-store weight/price labels (EAN-13, prefix 20–29) are read."""

    weight_prefixes: frozenset[str] = frozenset(str(p) for p in range(20, 30))
    price_prefixes: frozenset[str] = frozenset()
    item_digits: int = 5  # after the two-digit prefix; the value fills the rest
    region: str | None = None  # a biip RcnRegion code ("se", "de", ...) overrides the layout


@dataclass(frozen=True)
class BarcodeRules:
    """Scanner-side interpretation settings (from the till config)."""

    aim_prefix: bool | None = None  # None: strip one when present
    weight: WeightRules = field(default_factory=WeightRules)


def split_aim(text: str, aim_prefix: bool | None = None) -> tuple[str | None, str]:
    """Split ``"]E04607..."`` into (``"]E0"``, ``"4607..."``)."""
    if aim_prefix is not False and _AIM.match(text):
        return text[:3], text[3:]
    return None, text


def interpret(text: str, received: float, rules: BarcodeRules | None = None) -> ScanEvent | ScanRejected:
    """Classify one frame's text; never raises on bad input."""
    rules = rules or BarcodeRules()
    symbology, payload = split_aim(text, rules.aim_prefix)
    if rules.aim_prefix and symbology is None:
        return ScanRejected("missing_aim_prefix", text)
    if not payload:
        return ScanRejected("empty", text, symbology)
    if payload.isdigit() and payload.isascii() and len(payload) in (8, 12, 13):
        return _retail(payload, symbology, received, rules.weight)
    if symbology in _GS1_SYMBOLOGIES or "\x1d" in payload or _looks_gs1(payload, symbology):
        return _gs1(payload, symbology, received)
    if symbology in ("]E0", "]E4"):
        return ScanRejected("bad_length", payload, symbology)
    return ScanEvent(payload, ScanKind.TEXT, received, symbology)


def _looks_gs1(payload: str, symbology: str | None) -> bool:
    # a marking code read by a scanner without AIM prefix: (01) GTIN-14 then more
    return symbology is None and len(payload) > 16 and payload.startswith("01") and payload[2:16].isdigit()


def _retail(payload: str, symbology: str | None, received: float, weight: WeightRules) -> ScanEvent | ScanRejected:
    try:
        gtin = Gtin.parse(payload)
    except ParseError:
        return ScanRejected("bad_check_digit", payload, symbology)
    gtin13 = gtin.as_gtin_13()
    if len(payload) == 8:
        return ScanEvent(payload, ScanKind.EAN8, received, symbology, gtin=gtin13)
    if len(payload) == 12 or payload[0] == "0":
        return ScanEvent(payload, ScanKind.UPCA, received, symbology, gtin=gtin13)
    if isinstance(gtin, Rcn) and gtin.usage is RcnUsage.GEOGRAPHICAL and payload[:2] >= "20":
        return _weight(payload, symbology, received, weight)
    return ScanEvent(payload, ScanKind.EAN13, received, symbology, gtin=gtin13)


def _weight(payload: str, symbology: str | None, received: float, rules: WeightRules) -> ScanEvent | ScanRejected:
    prefix = payload[:2]
    if rules.region is not None:
        try:
            rcn = Gtin.parse(payload, config=ParseConfig(rcn_region=rules.region))
        except (ParseError, ValueError):
            return ScanRejected("bad_weight_code", payload, symbology)
        assert isinstance(rcn, Rcn)
        grams = _to_int(rcn.weight, 1000)
        kopecks = _to_int(rcn.price, 100)
        if grams is None and kopecks is None:
            return ScanEvent(payload, ScanKind.EAN13, received, symbology, gtin=payload)
        item = payload[:7]
    else:
        is_weight = prefix in rules.weight_prefixes
        if not is_weight and prefix not in rules.price_prefixes:
            return ScanEvent(payload, ScanKind.EAN13, received, symbology, gtin=payload)
        cut = 2 + rules.item_digits
        item, value = payload[:cut], int(payload[cut:12])
        grams, kopecks = (value, None) if is_weight else (None, value)
    return ScanEvent(
        payload, ScanKind.WEIGHT, received, symbology,
        gtin=payload, item_code=item, weight_grams=grams, price_kopecks=kopecks,
    )


def _to_int(value: Decimal | None, scale: int) -> int | None:
    return None if value is None else int(value * scale)


def _gs1(payload: str, symbology: str | None, received: float) -> ScanEvent | ScanRejected:
    datamatrix = symbology in _DATAMATRIX
    try:
        message = GS1Message.parse(payload)
    except ParseError:
        if datamatrix:
            # a marking code must reach the agent intact even if biip cannot split it
            return ScanEvent(payload, ScanKind.DATAMATRIX, received, symbology)
        if symbology in _GS1_SYMBOLOGIES:
            return ScanRejected("bad_gs1", payload, symbology)
        return ScanEvent(payload, ScanKind.TEXT, received, symbology)
    ais = {es.ai.ai: es.value for es in message.element_strings}
    gtin = next((es.gtin.as_gtin_13() for es in message.element_strings if es.gtin and es.ai.ai == "01"), None)
    grams = kopecks = None
    for es in message.element_strings:
        if es.ai.ai.startswith("310") and es.decimal is not None:
            grams = int(es.decimal * 1000)
        elif es.ai.ai.startswith("392") and es.decimal is not None:
            kopecks = int(es.decimal * 100)
    if symbology is None and "21" in ais and "01" in ais:
        datamatrix = True  # a serialised marking code without AIM prefix
    kind = ScanKind.DATAMATRIX if datamatrix else ScanKind.GS1
    return ScanEvent(
        payload, kind, received, symbology,
        gtin=gtin, weight_grams=grams, price_kopecks=kopecks, gs1=ais,
    )
