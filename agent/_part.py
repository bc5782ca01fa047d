"""The base of the till's parts (sessions, identification, commit, print queue)."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._till import Till


class TillPart:
    """One job of the sale path. ``ctx`` is the till: its database, catalog,
    clock, ledger, printer and the other parts, read at each use (a new
    bundle is in force at once)."""

    def __init__(self, ctx: Till) -> None:
        self.ctx = ctx
