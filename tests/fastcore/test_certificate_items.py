"""Catalog items of kind ``certificate`` (docs/certificates.md): validated with the
field at fault; the tender arithmetic never gives change nor goes past ocap."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import fastcore

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = json.loads((ROOT / "examples" / "bundle.json").read_text(encoding="utf-8"))
FLAGS = ["no_discount", "no_accrual", "no_redeem"]


def with_item(**over: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BUNDLE)
    item = {"sku": "GC", "name": "Сертификат", "price": 100000, "unit": "pcs", "flags": FLAGS,
            "kind": "certificate", "ocap": 50000}
    item.update(over)
    doc["catalog"].append({k: v for k, v in item.items() if v is not ...})
    return doc


def test_a_certificate_item_carries_its_face_value_offline_cap_and_lifetime() -> None:
    item = fastcore.load_bundle(with_item(valid_days=30)).catalog["GC"]
    assert item.certificate == fastcore.CertificateKind(100000, 50000, 30)
    assert fastcore.load_bundle(with_item(ocap=...)).catalog["GC"].certificate.ocap is None  # type: ignore[union-attr]
    assert all(i.certificate is None for s, i in fastcore.load_bundle(BUNDLE).catalog.items())


@pytest.mark.parametrize("over, field", [
    ({"kind": "voucher"}, "kind"), ({"unit": "kg"}, "unit"), ({"price": 0, "ocap": ...}, "price"),
    ({"flags": ["no_discount"]}, "flags"), ({"ocap": 0}, "ocap"), ({"ocap": 100001}, "ocap"),
    ({"ocap": 2**63}, "ocap"), ({"ocap": 1e308}, "ocap"), ({"ocap": -1}, "ocap"), ({"ocap": "5"}, "ocap"),
    ({"ocap": True}, "ocap"), ({"valid_days": 0}, "valid_days"), ({"valid_days": 2**63}, "valid_days"),
    ({"kind": ..., "ocap": 5}, "ocap"), ({"kind": ..., "ocap": ..., "valid_days": 5}, "valid_days"),
])
def test_a_bad_certificate_item_is_refused_naming_its_field(over: dict[str, Any], field: str) -> None:
    with pytest.raises(fastcore.BundleError) as bad:
        fastcore.load_bundle(with_item(**over))
    assert bad.value.field == f"catalog[{len(BUNDLE['catalog'])}].{field}"


def test_a_certificate_pays_at_most_what_is_due_and_offline_at_most_its_cap_here() -> None:
    assert fastcore.tender_amount(30000, 100000) == 30000
    assert fastcore.tender_amount(130000, 100000) == 100000
    assert fastcore.tender_amount(5, -3) == 0
    assert fastcore.offline_allowance(100000, None, 0) == 0
    assert fastcore.offline_allowance(100000, 50000, 20000) == 30000
    assert fastcore.offline_allowance(100000, 50000, 70000) == 0


def test_the_engine_prices_a_certificate_at_its_face_value_without_discount_or_points() -> None:
    doc = with_item()
    doc["promotions"].append({"id": "ALL-10", "kind": "basket_percent", "value": 1000,
                              "targets": {"skus": ["GC"]}})
    engine = fastcore.Engine(fastcore.load_bundle(doc))
    result = engine.price({"store": "KY-001", "at": "2026-11-22T14:05:00+07:00",
                           "lines": [{"sku": "GC", "qty": 1}]}).to_json()
    assert result["totals"]["paid"] == 100000 and result["totals"]["points"] == 0
