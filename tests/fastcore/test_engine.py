"""Engine behaviour beyond the vectors: primitives, big numbers, the API."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from cli import main
from fastcore import Result, allocate, compiled, reference, rhu
from fastcore._values import INF

EXAMPLES = Path(__file__).parents[2] / "examples"


def _bundle() -> dict:
    return json.loads((EXAMPLES / "bundle.json").read_text())


def _basket() -> dict:
    return json.loads((EXAMPLES / "basket.json").read_text())


def test_rhu_rounds_half_up() -> None:
    assert rhu(5, 10) == 1
    assert rhu(4, 10) == 0
    assert rhu(15, 10) == 2
    assert rhu(0, 7) == 0


@given(st.integers(0, 10**6), st.lists(st.tuples(st.integers(0, 1000), st.one_of(st.just(INF), st.integers(0, 5000))), min_size=1, max_size=12))
def test_allocate_sums_exactly_and_respects_caps(total: int, pairs: list[tuple[int, int]]) -> None:
    weights = [w for w, _ in pairs]
    caps = [c for _, c in pairs]
    out = allocate(total, weights, caps)
    capped = [c for w, c in pairs if w > 0]
    limit = total if INF in capped else min(total, sum(capped))
    assert sum(out) == limit
    for share, (w, c) in zip(out, pairs, strict=True):
        assert share >= 0
        assert c == INF or share <= c
        if w == 0:
            assert share == 0


def test_allocate_breaks_remainder_ties_by_line_order() -> None:
    assert allocate(1, [1, 1, 1], [INF, INF, INF]) == [1, 0, 0]
    assert allocate(2, [1, 1, 1], [INF, INF, INF]) == [1, 1, 0]
    assert allocate(10, [1, 1], [2, INF]) == [2, 8]


def test_redeem_is_capped_at_70_percent(Engine: type) -> None:
    bundle = _bundle()
    basket = _basket()
    basket["customer"]["available_points"] = 10**6
    basket["redeem"] = "max"
    basket["lines"] = [{"sku": "4607000000090", "qty": 1}]  # coffee 459.90, no promo discount
    res = Engine(bundle).price(basket).to_json()
    assert res["redeem"]["limited_by"] == "cap"
    assert res["totals"]["redeemed"] == (45990 * 7000 // 10000) // 100 * 100


def test_anonymous_sale_earns_and_spends_nothing(Engine: type) -> None:
    basket = _basket()
    basket["customer"] = None
    res = Engine(_bundle()).price(basket).to_json()
    assert res["totals"]["points"] == 0
    assert res["totals"]["redeemed"] == 0
    assert "CHEESE-30" not in [a["promo"] for a in res["applied"]]  # members only
    assert res["redeem"]["limited_by"] == "balance"


def test_huge_numbers_are_priced_exactly_by_both(Engine: type) -> None:
    bundle = _bundle()
    bundle["catalog"][0]["price"] = 10**30
    basket = _basket()
    basket["customer"]["available_points"] = 10**40
    res = Engine(bundle).price(basket).to_json()
    assert res["lines"][0]["amount"] == 2 * 10**30
    assert res == reference.Engine(bundle).price(basket).to_json()


def test_huge_quantity_falls_back_to_exact_arithmetic() -> None:
    basket = _basket()
    basket["lines"] = [{"sku": "2000000000053", "qty": "9999999999999999.999"}]
    assert compiled.Engine(_bundle()).price(basket) == reference.Engine(_bundle()).price(basket)


def test_price_many_prices_each_basket(Engine: type) -> None:
    engine = Engine(_bundle())
    results = engine.price_many([_basket(), _basket()])
    assert len(results) == 2 and results[0] == results[1] == engine.price(_basket())
    assert isinstance(results[0], Result)
    assert "paid=" in repr(results[0])
    assert results[0].paid == results[0].totals["paid"]
    assert results[0].points == results[0].totals["points"]


def test_engine_reports_its_bundle_version(Engine: type) -> None:
    assert Engine(_bundle()).version == 1


def test_pure_switch_selects_the_reference_engine() -> None:
    code = "import fastcore; print(fastcore.Engine.__module__)"
    env = dict(os.environ, KOPILKA_PURE="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "fastcore.reference"
    env.pop("KOPILKA_PURE")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "fastcore._engine"


def test_cli_price_prints_the_result() -> None:
    out = CliRunner().invoke(main, ["price", "--bundle", str(EXAMPLES / "bundle.json"), str(EXAMPLES / "basket.json")])
    assert out.exit_code == 0
    assert json.loads(out.stdout)["totals"]["amount"] == 142740


def test_cli_price_missing_file_is_one_line_and_status_2(tmp_path: Path) -> None:
    out = CliRunner().invoke(main, ["price", "--bundle", str(tmp_path / "none.json"), str(EXAMPLES / "basket.json")])
    assert out.exit_code == 2
    assert out.stdout == ""
    assert out.stderr.startswith("error: cannot read bundle")
    assert len(out.stderr.strip().splitlines()) == 1


def test_cli_price_bad_json_is_one_line_and_status_2(tmp_path: Path) -> None:
    bad = tmp_path / "basket.json"
    bad.write_text("{\"lines\": [")
    out = CliRunner().invoke(main, ["price", "--bundle", str(EXAMPLES / "bundle.json"), str(bad)])
    assert out.exit_code == 2
    assert out.stdout == ""
    assert "not valid JSON" in out.stderr


def test_cli_price_nan_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "basket.json"
    bad.write_text((EXAMPLES / "basket.json").read_text().replace("\"redeem\": 150", "\"redeem\": NaN"))
    out = CliRunner().invoke(main, ["price", "--bundle", str(EXAMPLES / "bundle.json"), str(bad)])
    assert out.exit_code == 2


def test_price_many_restores_the_garbage_collector(Engine: type) -> None:
    import gc

    assert gc.isenabled()
    Engine(_bundle()).price_many([_basket()])
    assert gc.isenabled()
    gc.disable()
    try:
        Engine(_bundle()).price_many([_basket()])
        assert not gc.isenabled()
    finally:
        gc.enable()
