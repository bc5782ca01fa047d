"""Plain-text tables of what ``_readers`` returns (``kopilka ledger txn|statement``)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastcore import mask_card


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str = "(none)") -> str:
    """Columns padded to their widest cell, a rule under the header."""
    cells = [list(headers)] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if not rows:
        lines.append(empty)
    return "\n".join(lines) + "\n"


def _journal(outcome: dict[str, Any]) -> str:
    parts = outcome.get("journal") or {}
    return " ".join(f"{k}={v}" for k, v in parts.items() if v)


def txn_table(rows: Sequence[dict[str, Any]]) -> str:
    """One line per transaction: receipt, id, kind, times, account, journal, audit."""
    return table(("receipt", "txn_id", "kind", "mode", "at", "account", "journal", "audit",
                  "received_at"),
                 [(r["receipt"], r["txn_id"], r["kind"], r["mode"], r["at"], r["account"],
                   _journal(r["outcome"]), r["outcome"].get("audit"), r["received_at"])
                  for r in rows], "(no such transaction)")


def statement_table(data: dict[str, Any]) -> str:
    """The header (balances, cards masked) and one line per journal entry."""
    cards = ", ".join(mask_card(c) for c in data.get("cards") or []) or "-"
    head = (f"account {data['account']} (cards {cards})\n"
            f"balance {data['balance']}, pending {data.get('pending', 0)}, held {data['held']}, "
            f"available {data['available']}\n"
            f"entries {data['offset'] + 1 if data['entries'] else 0}"
            f"-{data['offset'] + len(data['entries'])} of {data['total_entries']}\n\n")
    body = table(("at", "kind", "points", "balance", "receipt", "txn_id", "note"),
                 [(e["at"], e["kind"], f"{e['points']:+d}", e["balance"], e["receipt"] or "-",
                   e["txn_id"] or "-", e["note"] or "") for e in data["entries"]],
                 "(no entries)")
    more = (f"more: --offset {data['next_offset']}\n" if data.get("next_offset") is not None
            else "")
    fav = "".join(f"favourite {f['category']} (was {f['previous'] or '-'}) at {f['at']} "
                  f"by {f['by']}\n" for f in data.get("favourite") or [])
    tiers = "".join(f"tier {t['tier']} (was {t['previous'] or '-'}) at {t['at']}: {t['reason']}, "
                    f"rolling spend {t['spend']}\n" for t in data.get("tiers") or [])
    lots = "".join(f"lot {lot['earned_at'][:10]}: {lot['remaining']} of {lot['points']}"
                   + (f", pending until {lot['pending_until'][:10]}" if lot["pending_until"] else "")
                   + (f", expires {lot['expires_at'][:10]}" if lot["expires_at"] else "") + "\n"
                   for lot in data.get("lots") or [])
    soon = data.get("expiring") or {}
    warn = (f"{soon['points']} points expire by {soon['by']}\n" if soon.get("points") else "")
    tail = "".join(part for part in (fav, tiers, lots, warn) if part)
    return head + body + more + ("\n" + tail if tail else "")
