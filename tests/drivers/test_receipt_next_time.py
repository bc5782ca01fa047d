"""The receipt's optional "next time" block: near-miss hints under the
card section, wrapped at the paper's width, ₽ as a word (not in CP866),
read back whole."""
from __future__ import annotations

import pytest

from drivers._receipt import SaleInfo, as_text, layout, read_back

RESULT = {"lines": [{"sku": "1", "qty": "2", "amount": 14980, "discount": 0, "redeemed": 0, "paid": 14980,
                     "points": 0, "promos": []}],
          "totals": {"amount": 14980, "discount": 0, "redeemed": 0, "redeemed_points": 0, "paid": 14980, "points": 0}}
HINTS = ("add 1 more of Kefir 1% 900 g, the big bottle with the blue cap for 3-for-2",
         "add 120.00 ₽ of dairy/cheese for 10% off")


@pytest.mark.parametrize("columns", [48, 32])
def test_next_time_hints_wrap_at_the_paper_width_and_read_back_whole(columns: int) -> None:
    sale = SaleInfo(receipt_id="KY-001-01/1", store="KY-001", names={"1": "Kefir"}, lang="en", next_time=HINTS)
    text = as_text(layout(RESULT, sale, columns=columns))
    assert "Next time" in text and all(len(row) <= columns for row in text.splitlines())
    got = read_back(text, "en")
    assert got["next_time"] == [HINTS[0], "add 120.00 RUB of dairy/cheese for 10% off"]
    assert got["totals"]["total"] == 14980 and len(got["lines"]) == 1


def test_no_next_time_block_without_hints() -> None:
    text = as_text(layout(RESULT, SaleInfo(receipt_id="KY-001-01/1", store="KY-001")))
    assert "В следующий раз" not in text and read_back(text)["next_time"] == []
