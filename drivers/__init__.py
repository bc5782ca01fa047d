"""Real till hardware behind small interfaces: scanner, camera, printer."""
from __future__ import annotations

__all__: list[str] = []
