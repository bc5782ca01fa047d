"""What the demo shift left behind, for a test to check."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class DemoResult:
    """What happened, for the test and the summary."""

    workdir: Path
    receipts: list[str] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    ledger_rows: list[dict[str, Any]] = field(default_factory=list)
    balances: dict[str, int] = field(default_factory=dict)
    journal_ok: bool = False
    seconds: float = 0.0
    identify_ms: list[float] = field(default_factory=list)
    report_page: Path | None = None  # the head-office HTML page, in workdir
