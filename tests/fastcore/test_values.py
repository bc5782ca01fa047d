"""``is_int``: a JSON integer is an ``int`` that is not a ``bool``."""
from __future__ import annotations

from decimal import Decimal

import pytest

from fastcore import is_int


@pytest.mark.parametrize("value", [0, 1, -1, 2**53 - 1, 2**63, -(2**63) - 1])
def test_ints_of_any_size_are_ints(value: int) -> None:
    assert is_int(value)


@pytest.mark.parametrize("value", [True, False, 1.0, Decimal(1), "1", None, [1]])
def test_booleans_floats_and_text_are_not(value: object) -> None:
    assert not is_int(value)
