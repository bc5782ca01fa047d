"""The sync health report (``kopilka report sync``).

One row per till, grouped by store: last contact, contiguous high-water
seq, gaps, queue depth and oldest unsynced age (from the latest heartbeat),
rejected transactions, duplicates refused and audit mismatches. Every
figure comes from the till's own shard (``till_state``, ``till_seqs``,
``heartbeats``, ``rejects``), so the report never scans the sales.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from typing import Any

from ._ingest import gaps
from ._storage import Storage

COLUMNS = ("store", "till", "last_contact", "high_water", "max_seq", "gaps", "queue_depth",
           "oldest_unsynced_age_s", "bundle_version", "rejected", "duplicates",
           "audit_mismatches", "hardware")


@dataclass(frozen=True)
class TillRow:
    """The sync health of one till."""

    store: str
    till: str
    last_contact: str | None
    high_water: int
    max_seq: int
    gaps: list[tuple[int, int]]
    queue_depth: int | None
    oldest_unsynced_age_s: int | None
    bundle_version: int | None
    rejected: int
    duplicates: int
    audit_mismatches: int
    hardware: dict[str, str]


def collect(storage: Storage) -> list[TillRow]:
    """Every till's row, ordered by store and till."""
    out = []
    with storage.transaction() as tx:
        rows = tx.all("SELECT till, store, high_water, max_seq, last_contact, duplicates, "
                      "audit_mismatches FROM till_state ORDER BY store, till")
        for till, store, high, top, contact, dups, mism in rows:
            hb = tx.one("SELECT received_at, queue_depth, oldest_unsynced_age_s, "
                        "bundle_version, hardware FROM heartbeats WHERE till = ?", (till,))
            rej = tx.one("SELECT COUNT(*) FROM rejects WHERE till = ?", (till,))
            last = max(filter(None, [contact, hb[0] if hb else None]), default=None)
            out.append(TillRow(
                str(store), str(till), last, int(high), int(top), gaps(tx, str(till)),
                int(hb[1]) if hb else None, int(hb[2]) if hb else None,
                None if not hb or hb[3] is None else int(hb[3]),
                int(rej[0]) if rej else 0, int(dups), int(mism),
                json.loads(hb[4]) if hb else {}))
    return out


def _gap_text(ranges: list[tuple[int, int]]) -> str:
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def _flat(row: TillRow) -> dict[str, Any]:
    data = asdict(row)
    data["gaps"] = _gap_text(row.gaps)
    bad = {k: v for k, v in row.hardware.items() if v != "ok"}
    data["hardware"] = "ok" if not bad else ",".join(f"{k}={v}" for k, v in sorted(bad.items()))
    return {k: ("" if data[k] is None else data[k]) for k in COLUMNS}


def render(rows: list[TillRow], fmt: str) -> str:
    """The report as ``table``, ``csv`` or ``json`` text."""
    if fmt == "json":
        return json.dumps({"tills": [dict(asdict(r), gaps=[list(g) for g in r.gaps])
                                     for r in rows]}, indent=2, ensure_ascii=False)
    flat = [_flat(r) for r in rows]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat)
        return buf.getvalue()
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}")
    cells = [list(COLUMNS)] + [[str(r[c]) for c in COLUMNS] for r in flat]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if not rows:
        lines.append("(no tills registered)")
    return "\n".join(lines) + "\n"
