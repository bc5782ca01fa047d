from __future__ import annotations

import pytest
from biip.checksums import gs1_standard_check_digit

from drivers._barcode import BarcodeRules, WeightRules, interpret, split_aim
from drivers._scan_event import ScanEvent, ScanKind, ScanRejected

def _ean(body: str) -> str:
    """A code with a correct GTIN check digit."""
    return body + str(gs1_standard_check_digit(body))


MARKING = "010460700000001421ABC\x1d91EE07\x1d92abc=="


def _ok(text: str, rules: BarcodeRules | None = None) -> ScanEvent:
    result = interpret(text, 1.5, rules)
    assert isinstance(result, ScanEvent), result
    assert result.received == 1.5
    return result


def _rejected(text: str, rules: BarcodeRules | None = None) -> ScanRejected:
    result = interpret(text, 0.0, rules)
    assert isinstance(result, ScanRejected), result
    return result


@pytest.mark.parametrize(
    "text,symbology,payload,kind",
    [
        ("]E04607000000014", "]E0", "4607000000014", ScanKind.EAN13),
        ("]E496385074", "]E4", "96385074", ScanKind.EAN8),
        ("]E00042100005264", "]E0", "0042100005264", ScanKind.UPCA),
        ("]Q1KOP1.eyJ.sig", "]Q1", "KOP1.eyJ.sig", ScanKind.TEXT),
        ("]C1" + "0104607000000014\x1d3103001234", "]C1", "0104607000000014\x1d3103001234", ScanKind.GS1),
        ("]d2" + MARKING, "]d2", MARKING, ScanKind.DATAMATRIX),
        ("]C0RET-0001", "]C0", "RET-0001", ScanKind.TEXT),
        ("]A0CODE39", "]A0", "CODE39", ScanKind.TEXT),
        ("]e0" + "0104607000000014", "]e0", "0104607000000014", ScanKind.GS1),
        ("]Q3" + "0104607000000014", "]Q3", "0104607000000014", ScanKind.GS1),
    ],
)
def test_aim_prefix_is_stripped_and_reported(text: str, symbology: str, payload: str, kind: ScanKind) -> None:
    event = _ok(text)
    assert (event.symbology, event.payload, event.kind) == (symbology, payload, kind)


def test_no_prefix_is_fine_by_default() -> None:
    event = _ok("4607000000014")
    assert event.symbology is None and event.kind is ScanKind.EAN13 and event.gtin == "4607000000014"


def test_required_prefix_missing_is_rejected() -> None:
    assert _rejected("4607000000014", BarcodeRules(aim_prefix=True)).reason == "missing_aim_prefix"


def test_prefix_detection_can_be_turned_off() -> None:
    assert split_aim("]E0123", False) == (None, "]E0123")
    assert _ok("]E0123", BarcodeRules(aim_prefix=False)).kind is ScanKind.TEXT


@pytest.mark.parametrize("code", ["4607000000015", "96385075", "042100005265", "2112345012341"])
def test_bad_check_digit_is_rejected(code: str) -> None:
    assert _rejected(code).reason == "bad_check_digit"


def test_upca_twelve_digits_gets_gtin13() -> None:
    event = _ok("042100005264")
    assert event.kind is ScanKind.UPCA and event.gtin == "0042100005264"


def test_ean8_gtin_is_padded_to_13() -> None:
    assert _ok("96385074").gtin == "0000096385074"


def test_weight_code_default_layout_reads_grams() -> None:
    event = _ok("2112345012346")
    assert event.kind is ScanKind.WEIGHT
    assert (event.item_code, event.weight_grams, event.price_kopecks) == ("2112345", 1234, None)


def test_price_prefix_reads_kopecks() -> None:
    rules = BarcodeRules(weight=WeightRules(weight_prefixes=frozenset({"21"}), price_prefixes=frozenset({"22"})))
    event = _ok(_ean("221234504567"), rules)
    assert (event.kind, event.price_kopecks, event.weight_grams) == (ScanKind.WEIGHT, 4567, None)


def test_prefix_2x_not_configured_is_a_plain_ean13() -> None:
    rules = BarcodeRules(weight=WeightRules(weight_prefixes=frozenset({"21"})))
    assert _ok(_ean("251234501234"), rules).kind is ScanKind.EAN13


def test_biip_region_rules_read_weight() -> None:
    # Sweden: prefix 23 = weight in grams with 3 decimals of a kg
    rules = BarcodeRules(weight=WeightRules(region="se"))
    event = _ok("2302148210869", rules)
    assert event.kind is ScanKind.WEIGHT and event.weight_grams == 1086


def test_biip_region_without_measure_is_plain_ean13() -> None:
    rules = BarcodeRules(weight=WeightRules(region="gb"))
    assert _ok("2112345012346", rules).kind is ScanKind.EAN13


def test_biip_region_bad_measure_check_is_rejected() -> None:
    rules = BarcodeRules(weight=WeightRules(region="de"))
    assert _rejected("2812345012343", rules).reason == "bad_check_digit"
    assert _rejected(_ean("281234501234"), rules).reason == "bad_weight_code"


def test_gs1_element_strings_are_split_with_weight_and_price() -> None:
    event = _ok("]C10104607000000014\x1d3103001234\x1d3922012345")
    assert event.gtin == "4607000000014"
    assert event.weight_grams == 1234 and event.price_kopecks == 12345
    assert event.gs1["3103"] == "001234"


def test_marking_code_passes_through_intact_with_and_without_prefix() -> None:
    for text in ("]d2" + MARKING, MARKING):
        event = _ok(text)
        assert event.kind is ScanKind.DATAMATRIX
        assert event.payload == MARKING and "\x1d" in event.payload
        assert event.gs1["21"] == "ABC" and event.gtin == "4607000000014"


def test_unparseable_datamatrix_still_passes_through() -> None:
    event = _ok("]d2ZZ\x1dnot-gs1")
    assert event.kind is ScanKind.DATAMATRIX and event.payload == "ZZ\x1dnot-gs1"


def test_gs1_128_that_does_not_parse_is_rejected() -> None:
    assert _rejected("]C1ZZnot-gs1").reason == "bad_gs1"


def test_group_separator_text_that_is_not_gs1_is_text() -> None:
    assert _ok("ab\x1dcd").kind is ScanKind.TEXT


def test_ean_prefix_with_wrong_length_is_rejected() -> None:
    assert _rejected("]E0123").reason == "bad_length"


def test_prefix_alone_is_rejected_as_empty() -> None:
    assert _rejected("]E0").reason == "empty"
