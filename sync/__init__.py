"""Both ends of the till ⇄ ledger protocol (docs/sync-protocol.md)."""
from __future__ import annotations

__all__: list[str] = []
