"""How a card number is shown: ``****`` and its last four digits, nothing else."""
from __future__ import annotations

import pytest

from fastcore import mask_card


def test_a_card_number_keeps_only_its_last_four_digits() -> None:
    assert mask_card("2900000123458") == "****3458"


def test_the_length_is_not_shown_either() -> None:
    assert mask_card("12345678") == mask_card("1234567895678") == "****5678"


@pytest.mark.parametrize("short", ["", "1", "12", "123", "1234", "12345", "1234567"])
def test_fewer_than_8_digits_show_nothing(short: str) -> None:
    assert mask_card(short) == "****"


def test_none_shows_nothing() -> None:
    assert mask_card(None) == "****"


def test_spaces_and_other_characters_are_dropped_before_masking() -> None:
    assert mask_card("7001 2345 6789 1234") == "****1234"
    assert mask_card("card:2900000123458/") == "****3458"


def test_only_ascii_digits_count() -> None:
    assert mask_card("٢٩٠٠٠٠٠١٢٣٤٥٨") == "****"  # Arabic-Indic digits are not a card number


def test_scrub_masks_every_card_number_and_token_in_a_log_line() -> None:
    from fastcore import scrub

    token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJBLTEifQ.c2lnbmF0dXJl"
    line = f"card 2700000000017 paid, card=2799999999994; code {token}"
    assert scrub(line) == "card ****0017 paid, card=****9994; code <token>"


def test_scrub_leaves_longer_digit_runs_and_prose_alone() -> None:
    from fastcore import scrub

    assert scrub("order 12345678901234 of 3 items") == "order 12345678901234 of 3 items"


def test_scrub_masks_a_token_glued_to_a_word_and_reads_a_long_run_once() -> None:
    from fastcore import scrub

    token = "eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiJrIn0.c2lnbmF0dXJl"
    assert scrub("code=x" + token) == "code=<token>"
    # a hostile 1 MB code without dots is left as it is (and read in linear time:
    # the backtracking form took minutes on this)
    long = "a.b." + "c" * 1_000_000
    assert scrub(long) == long
