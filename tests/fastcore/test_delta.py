"""Bundle deltas (sync.md): one rule for the till that applies them and the ledger that makes them."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from fastcore import DeltaError, KEYED_SECTIONS, WHOLE_SECTIONS, apply_delta

HELD: dict[str, Any] = {
    "version": 1, "catalog": [{"sku": "a"}, {"sku": "b"}], "promotions": [{"id": "p"}],
    "tiers": [{"id": "x"}], "program": {"point_value": 100},
}


def test_upserts_replace_in_place_new_keys_go_last_and_whole_sections_are_replaced() -> None:
    new = apply_delta(HELD, {"catalog": {"upsert": [{"sku": "c"}, {"sku": "a", "n": 1}]},
                             "tiers": [{"id": "y"}], "customers": {"upsert": [{"card": "1"}]}}, 2)
    assert new["catalog"] == [{"sku": "a", "n": 1}, {"sku": "b"}, {"sku": "c"}]
    assert new["tiers"] == [{"id": "y"}] and new["customers"] == [{"card": "1"}]
    assert new["promotions"] == [{"id": "p"}] and new["program"] == {"point_value": 100}
    assert new["version"] == 2


def test_deletes_drop_entries_and_null_sections_are_untouched() -> None:
    new = apply_delta(HELD, {"catalog": {"delete": ["b"], "upsert": None}, "promotions": None,
                             "program": None}, 2)
    assert new["catalog"] == [{"sku": "a"}] and new["promotions"] == [{"id": "p"}]


def test_the_held_bundle_is_never_modified() -> None:
    before = copy.deepcopy(HELD)
    changes = {"catalog": {"upsert": [{"sku": "a", "n": 1}], "delete": ["b"]}, "program": {"point_value": 5}}
    new = apply_delta(HELD, changes, 2)
    assert HELD == before
    new["program"]["point_value"] = 7  # the replaced section is the result's own copy
    assert changes["program"] == {"point_value": 5}


@pytest.mark.parametrize("changes,field", [
    ([], "changes"),
    ({"colours": {}}, "changes"),
    ({"catalog": []}, "changes.catalog"),
    ({"catalog": {"rename": []}}, "changes.catalog"),
    ({"catalog": {"delete": "a"}}, "changes.catalog.delete"),
    ({"catalog": {"delete": ["zzz"]}}, "changes.catalog.delete[0]"),
    ({"catalog": {"delete": ["a", "a"]}}, "changes.catalog.delete[1]"),
    ({"catalog": {"upsert": {"sku": "a"}}}, "changes.catalog.upsert"),
    ({"catalog": {"upsert": [{"sku": "c"}, {"name": "no sku"}]}}, "changes.catalog.upsert[1]"),
    ({"promotions": {"upsert": [{"id": 7}]}}, "changes.promotions.upsert[0]"),
])
def test_a_delta_that_does_not_fit_the_held_bundle_is_refused_naming_the_field(changes: Any, field: str) -> None:
    with pytest.raises(DeltaError) as info:
        apply_delta(HELD, changes, 2)
    assert info.value.field == field


def test_a_held_section_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(DeltaError) as info:
        apply_delta(dict(HELD, catalog={"a": 1}), {"catalog": {"delete": []}}, 2)
    assert info.value.field == "catalog"


def test_the_sections_are_those_of_the_protocol() -> None:
    assert dict(KEYED_SECTIONS) == {"catalog": "sku", "promotions": "id", "customers": "card"}
    assert WHOLE_SECTIONS == ("program", "tiers", "stores", "keys")
