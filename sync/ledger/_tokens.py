"""Issuing the app's signed loyalty token (spec/token.md §2).

A JWS compact serialization, ``alg: EdDSA``, ``typ: kop+jwt``, signed with
the ledger's active Ed25519 key. ``bal`` is the account's available
balance (points minus pending points minus active holds, never below 0:
what a till may spend, docs/programme-life.md) at issue time; ``tier`` the
account's tier, computed by the ledger under ``program.tier_rules``; ``cap``
is what the token may redeem offline: the account's ``offline_cap`` if set,
else the program's ``offline_token_cap`` if the bundle has one, else the
whole available balance — always ``<= bal``.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastcore import jws_sign

from ._keys import active_key
from ._members import Profile

DEFAULT_LIFETIME_S = 300


def claims_for(profile: Profile, available: int, now: datetime, program: str,
               program_cap: int | None, lifetime_s: int = DEFAULT_LIFETIME_S) -> dict[str, Any]:
    """The token claims of one card at ``now``."""
    bal = max(0, available)
    cap = bal
    if profile.offline_cap is not None:
        cap = min(cap, profile.offline_cap)
    elif program_cap is not None:
        cap = min(cap, program_cap)
    iat = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": program, "sub": profile.card, "acc": profile.account,
        "tier": profile.tier or "", "seg": list(profile.segments), "ofr": list(profile.offers)[:8],
        "bal": bal, "cap": cap, "new": profile.sales == 0,
        "iat": iat, "exp": iat + lifetime_s, "jti": uuid.uuid4().hex,
    }
    today = now.date().isoformat()
    if profile.favorite_category and (profile.favorite_until is None
                                      or profile.favorite_until >= today):
        fav: dict[str, str] = {"cat": profile.favorite_category}
        if profile.favorite_until:
            fav["until"] = profile.favorite_until
        claims["fav"] = fav
    if profile.birthday:
        claims["bd"] = profile.birthday[5:]
        claims["bdok"] = profile.birthday_bonus_year != now.year
    return claims


def issue(tx: Any, profile: Profile, available: int, now: datetime, at_text: str,
          program: str, program_cap: int | None) -> str:
    """Sign a token for ``profile`` with the active key (made if missing)."""
    kid, key = active_key(tx, at_text)
    return jws_sign(claims_for(profile, available, now, program, program_cap), kid, key)
