"""Issue 5: the promo cache holds the engine and a small meta dict, not the
bundle's entries; deltas are applied to the stored rows with exactly the
semantics of ``apply_delta`` on the whole bundle."""
from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from fastcore import apply_delta
from sync import BundleRefused, PromoCache, TillDb
from sync._memory import Canon, release_free_memory

ROOT = Path(__file__).resolve().parents[2]


def test_after_install_only_the_engine_and_the_small_sections_are_held(cache: PromoCache,
                                                                       bundle: dict[str, Any]) -> None:
    cache.install(bundle)
    assert cache.meta is not None
    assert "catalog" not in cache.meta and "promotions" not in cache.meta
    assert cache.meta["program"] == bundle["program"] and cache.meta["version"] == 1
    raw = cache.engine.bundle.raw  # the validated Bundle's source dict, trimmed too
    assert "catalog" not in raw and "promotions" not in raw
    assert len(cache.engine.bundle.catalog) == len(bundle["catalog"])


def test_after_a_restart_the_engine_prices_as_the_one_installed(db_path: str, bundle: dict[str, Any]) -> None:
    basket = json.loads((ROOT / "examples" / "basket.json").read_text(encoding="utf-8"))
    with TillDb(db_path) as db:
        before = PromoCache(db).install(bundle).price(dict(basket)).to_json()
    with TillDb(db_path) as db:
        cache = PromoCache(db)
        assert cache.meta is not None and "catalog" not in cache.meta
        assert cache.engine.price(dict(basket)).to_json() == before


def test_a_delta_on_the_stored_rows_equals_apply_delta_on_the_whole_bundle(cache: PromoCache,
                                                                           bundle: dict[str, Any]) -> None:
    cache.install(bundle)
    held = cache.bundle
    assert held is not None
    cat = bundle["catalog"]
    changes = {
        "catalog": {"upsert": [dict(cat[1], price=7), dict(cat[0], sku="4600000000015", name="Новый"),
                               dict(cat[3], name="re-added at the end")],
                    "delete": [cat[2]["sku"], cat[3]["sku"]]},
        "promotions": {"upsert": [dict(bundle["promotions"][0], priority=1)]},
        "customers": {"upsert": [{"card": "2900000123458", "account": "A-77"}]},
        "program": dict(bundle["program"], point_value=50),
    }
    expected = apply_delta(copy.deepcopy(held), changes, 2)
    cache.install_delta(1, 2, changes)
    assert cache.bundle == json.loads(json.dumps(expected))
    assert cache.meta is not None and cache.meta["program"]["point_value"] == 50
    assert cache.meta["customers"] == expected["customers"]
    assert cache.engine.bundle.catalog[cat[1]["sku"]].price == 7


def test_a_delta_against_an_unknown_base_reads_nothing_and_is_refused(cache: PromoCache) -> None:
    with pytest.raises(BundleRefused) as info:
        cache.install_delta(0, 1, {})
    assert info.value.reason == "version_mismatch"


def test_a_stored_entry_that_is_not_json_refuses_the_delta_and_keeps_the_engine(
        cache: PromoCache, bundle: dict[str, Any], db_path: str) -> None:
    engine = cache.install(bundle)
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE promo_entry SET body = '{broken' WHERE section = 'catalog' AND pos = 0")
    conn.close()
    with pytest.raises(BundleRefused) as info:
        cache.install_delta(1, 2, {"promotions": {"delete": [bundle["promotions"][0]["id"]]}})
    assert info.value.reason == "corrupt"
    assert cache.version == 1 and cache.engine is engine
    assert cache.refusals()[0]["reason"] == "corrupt"


def test_canon_gives_one_fresh_object_per_distinct_value_nested_lists_included() -> None:
    a = json.loads('{"sku": "4600000000015", "category": "dairy", "price": 12345, "tags": ["x1", {"k": "dairy"}]}')
    b = json.loads('{"sku": "4600000000022", "category": "dairy", "price": 12345, "tags": ["x1"]}')
    canon = Canon()
    canon.keep(a)
    canon.keep(b)
    canon.keep("not an entry")
    kept_category = a["category"]
    canon.share(a)
    canon.share(b)
    assert a["category"] is b["category"] and a["category"] == "dairy"
    assert a["category"] is not kept_category  # a copy, not the parsed object
    assert a["price"] is b["price"] and a["price"] == 12345
    assert a["tags"][0] is b["tags"][0] and a["tags"][1]["k"] is a["category"]
    assert canon.share("not an entry") == "not an entry"


def test_releasing_free_memory_is_safe_to_call_any_time() -> None:
    release_free_memory()
    release_free_memory()
