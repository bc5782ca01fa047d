from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import fastcore
from sync import BundlePuller, BundleRefused, PromoCache, TillDb

ROOT = Path(__file__).resolve().parents[2]


def basket() -> dict[str, Any]:
    return dict(json.loads((ROOT / "examples" / "basket.json").read_text(encoding="utf-8")))


def test_a_valid_bundle_is_stored_and_priced_with(cache: PromoCache, bundle: dict[str, Any]) -> None:
    engine = cache.install(bundle)
    assert cache.version == 1 and cache.engine is engine
    assert engine.price(basket()).to_json()["totals"]


def test_the_stored_bundle_is_back_after_a_restart(db_path: str, bundle: dict[str, Any]) -> None:
    with TillDb(db_path) as db:
        PromoCache(db).install(bundle, 5)
    with TillDb(db_path) as db:
        cache = PromoCache(db)
        assert cache.version == 5
        assert cache.engine is not None


def test_corrupt_text_is_refused_and_the_last_good_bundle_stays(cache: PromoCache,
                                                                bundle: dict[str, Any]) -> None:
    good = cache.install(bundle)
    with pytest.raises(BundleRefused) as info:
        cache.install('{"version": 2, "program": ')
    assert info.value.reason == "corrupt"
    with pytest.raises(BundleRefused):
        cache.install("[1, 2]")
    assert cache.version == 1 and cache.engine is good
    assert [r["reason"] for r in cache.refusals()] == ["corrupt", "corrupt"]


def test_an_invalid_bundle_is_refused_naming_the_field(cache: PromoCache, bundle: dict[str, Any],
                                                       db_path: str) -> None:
    cache.install(bundle)
    bad = copy.deepcopy(bundle)
    bad["version"] = 2
    bad["promotions"][0]["kind"] = "free_lunch"
    with pytest.raises(BundleRefused) as info:
        cache.install(bad)
    assert info.value.reason == "invalid" and "promotions" in info.value.field
    assert cache.version == 1
    with TillDb(db_path) as db:  # nothing of the refused bundle reached the disk
        assert PromoCache(db).version == 1


def test_a_bundle_without_an_integer_version_is_refused(cache: PromoCache, bundle: dict[str, Any]) -> None:
    bundle["version"] = "7"
    with pytest.raises(BundleRefused) as info:
        cache.install(bundle)
    assert info.value.field == "version"
    assert cache.version is None


def test_a_delta_upserts_and_deletes_catalog_and_promotions(cache: PromoCache, bundle: dict[str, Any]) -> None:
    cache.install(bundle)
    promo = bundle["promotions"][0]["id"]
    item = dict(bundle["catalog"][0], price=9990)
    cache.install_delta(1, 2, {"catalog": {"upsert": [item], "delete": []},
                               "promotions": {"upsert": [], "delete": [promo]}})
    assert cache.version == 2
    held = cache.bundle
    assert held is not None
    assert promo not in {p["id"] for p in held["promotions"]}
    assert {c["sku"]: c["price"] for c in held["catalog"]}[item["sku"]] == 9990


def test_a_delta_for_another_base_version_is_refused(cache: PromoCache, bundle: dict[str, Any]) -> None:
    cache.install(bundle)
    with pytest.raises(BundleRefused) as info:
        cache.install_delta(4, 5, {})
    assert info.value.reason == "version_mismatch"
    assert cache.version == 1


def test_a_corrupt_delta_is_refused_and_the_last_good_bundle_kept(cache: PromoCache,
                                                                  bundle: dict[str, Any]) -> None:
    engine = cache.install(bundle)
    for changes, field in [
        ({"promotions": {"delete": ["NO-SUCH"]}}, "changes.promotions.delete[0]"),
        ({"catalog": {"upsert": [{"name": "no sku"}]}}, "changes.catalog.upsert[0]"),
        ({"catalog": "everything"}, "changes.catalog"),
        ({"weather": {}}, "changes"),
        ({"catalog": {"replace": []}}, "changes.catalog"),
        ({"catalog": {"delete": "x"}}, "changes.catalog.delete"),
        ({"catalog": {"upsert": {}}}, "changes.catalog.upsert"),
    ]:
        with pytest.raises(BundleRefused) as info:
            cache.install_delta(1, 2, changes)
        assert (info.value.reason, info.value.field) == ("bad_delta", field)
    with pytest.raises(BundleRefused) as info2:
        cache.install_delta(1, 2, {"catalog": {"upsert": [dict(bundle["catalog"][0], price=-5)]}})
    assert info2.value.reason == "invalid"
    assert cache.version == 1 and cache.engine is engine


class BundleServer:
    """Answers GET /v1/bundle like the ledger would, from a list of versions."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.sinces: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.sinces.append(request.url.params["since"])
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)


def puller(cache: PromoCache, server: BundleServer, swaps: list[tuple[Any, int]]) -> BundlePuller:
    return BundlePuller(cache, base_url="http://ledger", key="k", transport=httpx.MockTransport(server.handler),
                        on_engine=lambda e, v: swaps.append((e, v)))


def test_puller_applies_full_then_delta_then_none_and_swaps_the_engine(cache: PromoCache,
                                                                       bundle: dict[str, Any]) -> None:
    promo = bundle["promotions"][0]["id"]
    server = BundleServer([
        {"kind": "full", "version": 3, "bundle": bundle},
        {"kind": "delta", "from": 3, "version": 4, "changes": {"promotions": {"delete": [promo]}}},
        {"kind": "none", "version": 4},
    ])
    swaps: list[tuple[Any, int]] = []
    with puller(cache, server, swaps) as p:
        assert p.pull_once().kind == "full"
        assert p.pull_once().kind == "delta"
        out = p.pull_once()
    assert (out.kind, out.version) == ("none", 4)
    assert server.sinces == ["0", "3", "4"]
    assert [v for _, v in swaps] == [3, 4]
    assert swaps[-1][0] is cache.engine


def test_puller_asks_for_a_full_bundle_when_a_delta_has_another_base(cache: PromoCache,
                                                                     bundle: dict[str, Any]) -> None:
    cache.install(bundle)
    server = BundleServer([{"kind": "delta", "from": 9, "version": 10, "changes": {}},
                           {"kind": "full", "version": 10, "bundle": bundle}])
    with puller(cache, server, []) as p:
        assert p.pull_once().kind == "full"
    assert server.sinces == ["1", "0"] and cache.version == 10


def test_puller_keeps_the_last_good_bundle_when_offline_or_refused(cache: PromoCache,
                                                                   bundle: dict[str, Any]) -> None:
    engine = cache.install(bundle)
    bad = copy.deepcopy(bundle)
    bad["tiers"] = []
    server = BundleServer([
        httpx.ConnectError("down"),
        httpx.Response(503),
        httpx.Response(200, content=b"not json"),
        httpx.Response(200, json=[1]),
        {"kind": "full", "version": 2, "bundle": bad},
        {"kind": "delta", "from": 1, "version": 2, "changes": {"promotions": {"delete": ["NOPE"]}}},
        {"kind": "surprise", "version": 2},
    ])
    swaps: list[tuple[Any, int]] = []
    with puller(cache, server, swaps) as p:
        kinds = [(o.kind, o.reason) for o in (p.pull_once() for _ in range(7))]
    assert kinds == [("offline", "ConnectError"), ("offline", "http_503"), ("refused", "corrupt"),
                     ("refused", "corrupt"), ("refused", "invalid"), ("refused", "bad_delta"),
                     ("refused", "corrupt")]
    assert cache.version == 1 and cache.engine is engine and swaps == []
    assert len(cache.refusals()) == 5


def test_an_engine_swap_never_shows_a_half_bundle_to_a_pricing_thread(cache: PromoCache,
                                                                       bundle: dict[str, Any]) -> None:
    import threading

    cache.install(bundle)
    stop = threading.Event()
    errors: list[BaseException] = []

    def scan() -> None:
        while not stop.is_set():
            try:
                cache.engine.price(basket())
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

    t = threading.Thread(target=scan)
    t.start()
    try:
        for v in range(2, 12):
            cache.install(bundle, v)
    finally:
        stop.set()
        t.join()
    assert errors == [] and cache.version == 11
    assert isinstance(cache.engine, fastcore.Engine)


def test_a_stored_delta_reloads_to_exactly_the_bundle_in_force(db_path: str, bundle: dict[str, Any]) -> None:
    new_item = dict(bundle["catalog"][0], sku="4600000000015", name="Новый")
    changes = {"catalog": {"upsert": [dict(bundle["catalog"][1], price=1), new_item],
                           "delete": [bundle["catalog"][2]["sku"]]},
               "promotions": {"delete": [bundle["promotions"][-1]["id"]]},
               "customers": {"upsert": [{"card": "2900000123458", "account": "A-77"}]}}
    with TillDb(db_path) as db:
        cache = PromoCache(db)
        cache.install(bundle)
        cache.install_delta(1, 2, changes)
        in_force = json.loads(cache.dumps())
    with TillDb(db_path) as db:
        again = PromoCache(db)
        assert again.version == 2
        assert json.loads(again.dumps()) == in_force
    assert [c["sku"] for c in in_force["catalog"]][-1] == "4600000000015"


def test_a_bundle_whose_entries_lack_their_key_is_refused(cache: PromoCache, bundle: dict[str, Any]) -> None:
    bundle["catalog"].append({"name": "no sku"})
    with pytest.raises(BundleRefused) as info:
        cache.install(bundle)
    assert info.value.field == "catalog"


def test_migration_3_splits_a_bundle_stored_by_an_older_agent(db_path: str, bundle: dict[str, Any]) -> None:
    import sqlite3

    from sync._tilldb import _m1_core, _m2_promo

    raw = sqlite3.connect(db_path, isolation_level=None)
    raw.execute("CREATE TABLE _migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)")
    _m1_core(raw)
    _m2_promo(raw)
    raw.executemany("INSERT INTO _migrations VALUES (?, ?, 0)", [(1, "a"), (2, "b")])
    raw.execute("INSERT INTO promo_bundle VALUES (1, 1, ?, 0)", (json.dumps(bundle),))
    raw.close()
    with TillDb(db_path) as db:
        assert db.migrations() == [1, 2, 3, 4]
        cache = PromoCache(db)
        assert cache.version == 1
        assert json.loads(cache.dumps())["catalog"] == bundle["catalog"]
