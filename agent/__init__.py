"""The till daemon: sale session, identification, returns, local API."""
from __future__ import annotations

__all__: list[str] = []
