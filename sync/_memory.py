"""Keeping a till's resident memory low while bundles come and go.

Why a module of its own: the promo cache builds a 100,000-sku engine from
JSON on a till with a 150 MB budget (issue 5). Two things decide what stays
resident after the build, beside the engine itself:

- repeated values: a unit, category or brand string parsed 100,000 times is
  100,000 objects unless deduplicated (``Canon``, ~15 MB on the benchmark
  bundle);
- where the objects that live on were allocated: CPython's allocator gives
  memory back only in whole arenas, so values that live on must not sit
  among the dicts that die (the two-pass build of ``_promocache``), and
  glibc keeps freed heap until asked (``release_free_memory``).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
from typing import Any

log = logging.getLogger(__name__)


class Canon:
    """One object per distinct string or int value among bundle entries' fields.

    ``keep`` (first pass) records values, copied into fresh objects so that
    they do not share memory with the parsed entry that dies; ``share``
    (second pass) replaces an entry's values, nested lists and objects
    included (promotion targets), with the recorded ones.
    """

    def __init__(self) -> None:
        self._values: dict[Any, Any] = {}

    def keep(self, entry: Any) -> None:
        """Record the values of one entry (a dict or list; anything else is ignored)."""
        values = self._values
        for v in entry.values() if type(entry) is dict else entry if type(entry) is list else ():
            t = type(v)
            if t is str or t is int:
                if v not in values:
                    c = _fresh(v)
                    values[c] = c  # keyed by the copy too: the parsed ``v`` must die now
            elif t is dict or t is list:
                self.keep(v)

    def share(self, entry: Any) -> Any:
        """``entry`` with its values replaced by the recorded objects; returns it."""
        values = self._values
        if type(entry) is dict:
            for k, v in entry.items():
                t = type(v)
                if t is str or t is int:
                    entry[k] = values.get(v, v)
                elif t is dict or t is list:
                    self.share(v)
        elif type(entry) is list:
            for i, v in enumerate(entry):
                t = type(v)
                if t is str or t is int:
                    entry[i] = values.get(v, v)
                elif t is dict or t is list:
                    self.share(v)
        return entry


def _fresh(v: Any) -> Any:
    """A new object equal to ``v`` (small ints and empty strings are shared by CPython anyway)."""
    if type(v) is str:
        return "".join((v[:1], v[1:])) if len(v) > 1 else v
    return v + 0 if not -5 <= v <= 256 else v


def _load_libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _load_libc()


def release_free_memory() -> None:
    """Collect garbage and hand free heap pages back to the system (glibc only).

    Called after a bundle build: the freed JSON texts and dicts are tens of
    MB that glibc would otherwise keep mapped. Elsewhere a no-op.
    """
    gc.collect()
    if _LIBC is not None:
        try:
            _LIBC.malloc_trim(0)
        except (OSError, AttributeError):  # pragma: no cover - exotic libc
            log.debug("malloc_trim not available")
