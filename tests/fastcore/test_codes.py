"""EAN-13 check digits: one rule for card numbers (till, ledger) and the phone twin."""
from __future__ import annotations

import pytest

from fastcore import ean13_check_digit, ean13_valid


def test_the_check_digit_of_known_gtins() -> None:
    assert ean13_check_digit("400638133393") == 1
    assert ean13_check_digit("590123412345") == 7
    assert ean13_check_digit("290000012345") == 8


@pytest.mark.parametrize("body", ["12345", "4006381333931", "", "40063813339a", "４００６３８１３３３９３",
                                  "٤٠٠٦٣٨١٣٣٣٩٣"])
def test_a_body_that_is_not_12_ascii_digits_is_refused(body: str) -> None:
    with pytest.raises(ValueError):
        ean13_check_digit(body)


def test_a_card_number_with_its_check_digit_is_valid() -> None:
    assert ean13_valid("4006381333931") and ean13_valid("2900000123458")


@pytest.mark.parametrize("code", [
    "4006381333932",   # wrong check digit
    "2900000123455",
    "400638133393",    # 12 digits: short
    "40063813339310",  # 14 digits
    "290000012345 ",   # a blank where a digit belongs
    "",
    "٤٠٠٦٣٨١٣٣٣٩٣١",   # Arabic-Indic digits: decimal, but not what a till reads
])
def test_a_bad_check_digit_or_a_wrong_shape_is_not_valid(code: str) -> None:
    assert not ean13_valid(code)


def test_every_single_digit_error_is_caught() -> None:
    code = "4607000000014"
    assert ean13_valid(code)
    for i in range(13):
        for d in "0123456789":
            if d != code[i]:
                assert not ean13_valid(code[:i] + d + code[i + 1:]), (i, d)
