"""Bundle versions, deltas (upserts and deletes), full bundles, corrupt bundles."""
from __future__ import annotations

import copy
import json

import pytest

from fastcore import apply_delta
from sync.ledger import BundleImportError, Ledger

from .helpers import BUNDLE, ASGIClient, TillSim


def keyed(bundle: dict) -> dict:
    out = dict(bundle)
    for section, key in (("catalog", "sku"), ("promotions", "id")):
        out[section] = {item[key]: item for item in bundle[section]}
    return out


def test_a_delta_that_deletes_a_promotion_in_force_is_served_and_applies_cleanly(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    v2 = copy.deepcopy(BUNDLE)
    gone = v2["promotions"].pop(0)["id"]
    v2["catalog"][0]["price"] += 100
    v2["catalog"].append(dict(v2["catalog"][1], sku="4600000000999", name="new"))
    del v2["catalog"][2]
    assert shop.import_bundle(json.dumps(v2)) == (2, True)
    answer = client.get("/v1/bundle?since=1", headers=till.headers).json()
    assert answer["kind"] == "delta" and (answer["from"], answer["version"]) == (1, 2)
    changes = answer["changes"]
    assert changes["promotions"] == {"upsert": [], "delete": [gone]}
    assert [i["sku"] for i in changes["catalog"]["upsert"]] == [v2["catalog"][0]["sku"],
                                                                "4600000000999"]
    assert changes["catalog"]["delete"] == [BUNDLE["catalog"][2]["sku"]]
    assert changes["program"] is None and changes["keys"] is None
    full1 = client.get("/v1/bundle?since=0", headers=till.headers).json()
    assert full1["kind"] == "full" and full1["version"] == 2
    old = json.loads(json.dumps(shop.bundle_answer(None)["bundle"]))
    with shop.storage.transaction() as tx:
        v1 = json.loads(tx.one("SELECT body FROM bundles WHERE version = 1")[0])
    assert keyed(apply_delta(v1, changes, 2)) == keyed(old)


def test_a_till_up_to_date_gets_none_and_an_unknown_version_gets_the_full_bundle(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    get = lambda q: client.get(f"/v1/bundle{q}", headers=till.headers).json()  # noqa: E731
    assert get("?since=1") == {"kind": "none", "version": 1}
    assert get("")["kind"] == "full"
    assert get("?since=7")["kind"] == "full"
    assert get("?since=7")["bundle"]["version"] == 1


def test_importing_the_same_content_again_makes_no_new_version(shop: Ledger) -> None:
    from .helpers import BUNDLE_TEXT

    assert shop.import_bundle(BUNDLE_TEXT) == (1, False)


@pytest.mark.parametrize("corrupt,field", [
    (lambda b: b["promotions"][0].update(kind="teleport"), "promotions[0]"),
    (lambda b: b["catalog"][0].update(price=-1), "catalog[0]"),
    (lambda b: b.pop("tiers"), "tiers"),
])
def test_a_corrupt_bundle_is_refused_and_the_last_good_one_stays(
        shop: Ledger, corrupt, field: str) -> None:
    bad = copy.deepcopy(BUNDLE)
    corrupt(bad)
    with pytest.raises(BundleImportError) as err:
        shop.import_bundle(json.dumps(bad))
    assert err.value.field.startswith(field)
    answer = shop.bundle_answer(None)
    assert answer is not None and answer["version"] == 1


def test_bundle_text_that_is_not_a_json_object_is_refused(shop: Ledger) -> None:
    for text in ("{nope", "[1]"):
        with pytest.raises(BundleImportError):
            shop.import_bundle(text)


def test_bundle_requests_that_are_wrong_get_a_specific_4xx(
        client: ASGIClient, ledger: Ledger, db_url: str) -> None:
    key = ledger.add_till("KY-001", "T-1")
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/bundle", headers=headers).status_code == 404
    for q in ("?since=abc", "?since=-1", "?since=1.5"):
        resp = client.get(f"/v1/bundle{q}", headers=headers)
        assert resp.status_code == 400 and resp.json()["field"] == "since"
    assert client.get("/v1/bundle").status_code == 401


def test_a_till_two_versions_behind_gets_one_delta_the_till_side_can_apply(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    v2 = copy.deepcopy(BUNDLE)
    v2["catalog"].append(dict(v2["catalog"][0], sku="4600000000999"))
    v3 = copy.deepcopy(v2)
    v3["catalog"] = [i for i in v3["catalog"] if i["sku"] != "4600000000999"]
    v3["promotions"] = v3["promotions"][1:]
    shop.import_bundle(json.dumps(v2))
    shop.import_bundle(json.dumps(v3))
    with shop.storage.transaction() as tx:
        v1 = json.loads(tx.one("SELECT body FROM bundles WHERE version = 1")[0])
        v2s = json.loads(tx.one("SELECT body FROM bundles WHERE version = 2")[0])
        newest = json.loads(tx.one("SELECT body FROM bundles WHERE version = 3")[0])
    two = client.get("/v1/bundle?since=1", headers=till.headers).json()
    assert two["kind"] == "delta" and two["changes"]["catalog"]["delete"] == []
    one = client.get("/v1/bundle?since=2", headers=till.headers).json()  # stored at import
    assert one["changes"]["catalog"]["delete"] == ["4600000000999"]
    for base, answer in ((v1, two), (v2s, one)):
        applied = apply_delta(base, answer["changes"], answer["version"])
        assert keyed(applied) == keyed(newest)
