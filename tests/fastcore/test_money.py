"""Money text: kopecks as roubles with two decimals, integers only."""
from __future__ import annotations

import pytest

from fastcore import money_text


@pytest.mark.parametrize("kopecks,text", [
    (12345, "123.45"), (0, "0.00"), (5, "0.05"), (100, "1.00"), (-5, "-0.05"), (-12345, "-123.45"),
    (2**53 - 1, "90071992547409.91"), (2**63, "92233720368547758.08"),
])
def test_kopecks_read_as_roubles(kopecks: int, text: str) -> None:
    assert money_text(kopecks) == text


def test_every_value_reads_back_exactly() -> None:
    for kopecks in range(-1000, 1000):
        text = money_text(kopecks)
        whole, frac = text.lstrip("-").split(".")
        assert (-1 if text.startswith("-") else 1) * (int(whole) * 100 + int(frac)) == kopecks
