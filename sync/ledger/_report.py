"""The sync health report (``kopilka report sync``).

One row per till, grouped by store: last contact, contiguous high-water
seq, gaps, queue depth and oldest unsynced age (from the latest heartbeat),
rejected transactions, duplicates refused and audit mismatches. Every
figure comes from the till's own shard (``till_state``, ``till_seqs``,
``heartbeats``, ``rejects``), so the per-till rows never scan the sales.

Two flags follow (``_flags``): a token ``jti`` used at two tills, and an
account an offline redemption drove below zero. In CSV every text cell
starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return)
gets a leading ``'``, so a spreadsheet never runs it as a formula; numbers
are written as numbers.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from ._flags import FLAG_COLUMNS, Flags, flag_rows
from ._storage import Storage, Tx
from ._views import table

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

    def to_json(self) -> dict[str, Any]:
        """The row as a dict, gaps as ``[first, last]`` lists (``asdict`` deep-copies: slow
        for 15,000 tills)."""
        return dict(vars(self), gaps=[list(g) for g in self.gaps], hardware=dict(self.hardware))


def all_gaps(tx: Tx) -> dict[str, list[tuple[int, int]]]:
    """Every till's missing seq ranges (``_ingest.gaps``), in one statement for all tills.

    Only a till whose top seq is above its high-water mark can have a gap;
    its applied seqs above the mark are read through the ``(till, seq)`` key.
    """
    seqs: dict[str, list[int]] = {}
    high: dict[str, int] = {}
    for till, mark, seq in tx.all(
            "SELECT st.till, st.high_water, ts.seq FROM till_state st JOIN till_seqs ts "
            "ON ts.till = st.till AND ts.seq > st.high_water WHERE st.max_seq > st.high_water "
            "AND ts.state = 'applied' ORDER BY st.till, ts.seq"):
        seqs.setdefault(str(till), []).append(int(seq))
        high[str(till)] = int(mark)
    out: dict[str, list[tuple[int, int]]] = {}
    for till, found in seqs.items():
        expect, ranges = high[till] + 1, []
        for seq in found:
            if seq > expect:
                ranges.append((expect, seq - 1))
            expect = seq + 1
        if ranges:
            out[till] = ranges
    return out


def _hardware(parsed: dict[str, dict[str, str]], text: str) -> dict[str, str]:
    if text not in parsed:
        parsed[text] = json.loads(text)
    return dict(parsed[text])


def collect(storage: Storage) -> list[TillRow]:
    """Every till's row, ordered by store and till.

    One statement for every till (a join of the till-keyed tables, so on
    Citus each shard answers for its own tills) and one for the gaps:
    15,000 tills are two queries, not 45,000.
    """
    out = []
    with storage.transaction() as tx:
        rows = tx.all(
            "SELECT t.till, t.store, t.high_water, t.max_seq, t.last_contact, t.duplicates, "
            "t.audit_mismatches, h.received_at, h.queue_depth, h.oldest_unsynced_age_s, "
            "h.bundle_version, h.hardware, (SELECT COUNT(*) FROM rejects r WHERE r.till = t.till) "
            "FROM till_state t LEFT JOIN heartbeats h ON h.till = t.till ORDER BY t.store, t.till")
        missing = all_gaps(tx)
        parsed: dict[str, dict[str, str]] = {}  # most tills send the same hardware text
        for till, store, high, top, contact, dups, mism, got, depth, age, ver, hw, rej in rows:
            last = max(filter(None, [contact, got]), default=None)
            beat = got is not None
            out.append(TillRow(
                str(store), str(till), last, int(high), int(top),
                missing.get(str(till), []),
                int(depth) if beat else None, int(age) if beat else None,
                None if ver is None else int(ver), int(rej or 0), int(dups), int(mism),
                _hardware(parsed, str(hw)) if beat else {}))
    return out


def _gap_text(ranges: list[tuple[int, int]]) -> str:
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def _flat(row: TillRow) -> dict[str, Any]:
    data = dict(vars(row))
    data["gaps"] = _gap_text(row.gaps)
    bad = {k: v for k, v in row.hardware.items() if v != "ok"}
    data["hardware"] = "ok" if not bad else ",".join(f"{k}={v}" for k, v in sorted(bad.items()))
    return {k: ("" if data[k] is None else data[k]) for k in COLUMNS}


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: formula-like text gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: csv_cell(v) for k, v in r.items()} for r in rows)
    return buf.getvalue()


def _table(columns: tuple[str, ...], rows: list[dict[str, Any]], empty: str) -> str:
    """The rows (dicts) as a padded table; every cell as ``str`` (``None`` reads ``None``)."""
    return table(columns, [[str(r[c]) for c in columns] for r in rows], empty)


def render(rows: list[TillRow], fmt: str, flags: Flags | None = None) -> str:
    """The report as ``table``, ``csv`` or ``json`` text (with the flags when given).

    CSV with flags is two tables separated by an empty line: the tills,
    then one row per transaction a flag concerns.
    """
    if fmt == "json":
        data: dict[str, Any] = {"tills": [r.to_json() for r in rows]}
        if flags is not None:
            data["flags"] = flags.to_json()
        return json.dumps(data, indent=2, ensure_ascii=False)
    flat = [_flat(r) for r in rows]
    extra = flag_rows(flags) if flags is not None else None
    if fmt == "csv":
        out = _csv(COLUMNS, flat)
        return out if extra is None else out + "\n" + _csv(FLAG_COLUMNS, extra)
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}")
    out = _table(COLUMNS, flat, "(no tills registered)")
    if extra is not None:
        out += "\nflags\n" + _table(FLAG_COLUMNS, extra, "(no flags)")
    return out
