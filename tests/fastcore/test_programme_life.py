"""The ledger's lifecycle and tier settings in ``program`` (docs/pricing-notes.md).

The engines do not read them, but a bundle the ledger would misread is
refused by ``load_bundle`` naming the field, on both engines.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from fastcore import BundleError, load_bundle

EXAMPLES = Path(__file__).parents[2] / "examples"
RULES = {"window_days": 365, "review_days": 90,
         "thresholds": [{"tier": "silver", "spend": 3000000}, {"tier": "gold", "spend": 10000000}]}


def _bundle(**program: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EXAMPLES / "bundle.json").read_text())
    body["program"].update(program)
    return body


def _rules(**change: Any) -> dict[str, Any]:
    rules = copy.deepcopy(RULES)
    rules.update(change)
    return rules


def _threshold(i: int, **change: Any) -> dict[str, Any]:
    rules = copy.deepcopy(RULES)
    rules["thresholds"][i].update(change)
    return rules


ERRORS: dict[str, tuple[dict[str, Any], str]] = {
    "hold_days_negative": ({"hold_days": -1}, "program.hold_days"),
    "hold_days_text": ({"hold_days": "14"}, "program.hold_days"),
    "hold_days_bool": ({"hold_days": True}, "program.hold_days"),
    "hold_days_float": ({"hold_days": 14.0}, "program.hold_days"),
    "hold_days_huge": ({"hold_days": 2**63}, "program.hold_days"),
    "expiry_days_zero": ({"expiry_days": 0}, "program.expiry_days"),
    "expiry_days_1e308": ({"expiry_days": 1e308}, "program.expiry_days"),
    "expiry_within_hold": ({"hold_days": 14, "expiry_days": 14}, "program.expiry_days"),
    "tier_rules_not_object": ({"tier_rules": [RULES]}, "program.tier_rules"),
    "window_missing": ({"tier_rules": {k: v for k, v in RULES.items() if k != "window_days"}},
                       "program.tier_rules.window_days"),
    "review_zero": ({"tier_rules": _rules(review_days=0)}, "program.tier_rules.review_days"),
    "window_huge": ({"tier_rules": _rules(window_days=2**63)}, "program.tier_rules.window_days"),
    "no_thresholds": ({"tier_rules": _rules(thresholds=[])}, "program.tier_rules.thresholds"),
    "thresholds_deep": ({"tier_rules": _rules(thresholds=[[[[{}]]]])},
                        "program.tier_rules.thresholds[0]"),
    "unknown_tier": ({"tier_rules": _threshold(0, tier="platinum")},
                     "program.tier_rules.thresholds[0].tier"),
    "tier_with_nul": ({"tier_rules": _threshold(0, tier="silver\x00")},
                      "program.tier_rules.thresholds[0].tier"),
    "default_tier": ({"tier_rules": _threshold(0, tier="base")},
                     "program.tier_rules.thresholds[0].tier"),
    "tier_twice": ({"tier_rules": _threshold(1, tier="silver")},
                   "program.tier_rules.thresholds[1].tier"),
    "spend_missing": ({"tier_rules": _threshold(0, spend=None)},
                      "program.tier_rules.thresholds[0].spend"),
    "spend_zero": ({"tier_rules": _threshold(0, spend=0)}, "program.tier_rules.thresholds[0].spend"),
    "spend_2_63": ({"tier_rules": _threshold(1, spend=2**63)},
                   "program.tier_rules.thresholds[1].spend"),
    "spend_not_rising": ({"tier_rules": _threshold(1, spend=3000000)},
                         "program.tier_rules.thresholds[1].spend"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_a_bad_lifecycle_or_tier_setting_is_a_bundle_error_naming_its_field(
        Engine: type, case: str) -> None:
    program, field = ERRORS[case]
    with pytest.raises(BundleError) as info:
        Engine(_bundle(**program))
    assert info.value.field == field
    assert info.value.reason == "bad_bundle"


def test_good_settings_load_and_absent_ones_mean_no_hold_no_expiry_no_tier_rules(
        Engine: type) -> None:
    Engine(_bundle(hold_days=14, expiry_days=365, tier_rules=RULES))
    Engine(_bundle(hold_days=0))
    assert load_bundle(_bundle()).raw["program"].get("tier_rules") is None
