"""The compiled engine, importable by name (``fastcore.compiled.Engine``).

Raises ImportError when the Cython extension has not been built
(``make setup`` builds it).
"""
from __future__ import annotations

from ._engine import Engine

__all__ = ["Engine"]
