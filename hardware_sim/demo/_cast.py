"""Who and what the demo shift sells: the bundle, the members, the goods."""
from __future__ import annotations

from pathlib import Path
from typing import Any

BUNDLE = Path(__file__).with_name("bundle.json")

MILK, KEFIR, CHEESE, BREAD = "4607000000014", "4607000000021", "4607000000038", "4607000000045"
COFFEE, CHOCOLATE, BUCKWHEAT, APPLES = "4607000000090", "4607000000083", "4607000000052", "2000000000053"
#: A shop scale's label (till.md §2): prefix 20, plu 00000 (apples), 455 g, check digit.
APPLES_LABEL = "2000000004556"
COUPON = "SPRING300"
GIFT = "4607000000106"  # a 1000 ₽ gift certificate (docs/certificates.md)
TILL, STORE = "KY-001-01", "KY-001"
#: a new plastic card from the box at the till: nobody knows it yet (docs/enrolment.md)
NEW_CARD = "2900000777774"

MEMBERS: list[dict[str, Any]] = [
    {"card": "2900000123458", "account": "A-ANNA", "tier": "silver", "segments": ["students"],
     "favorite_category": "dairy", "favorite_until": "2030-12-31", "opening_balance": 1500},
    {"card": "2900000456785", "account": "A-BORIS", "tier": "base", "opening_balance": 900,
     "offline_cap": 200},
    # a plastic card of this store: its tills know her offline (till.md §2a)
    {"card": "2900000789012", "account": "A-VERA", "tier": "base", "opening_balance": 300,
     "home_store": "KY-001"},
]
