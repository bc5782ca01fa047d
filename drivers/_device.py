"""The device base class: lifecycle, state and health common to every driver.

A concrete device implements the raw primitives (``_open_device``,
``_close_device`` and ``_read``/``_write`` as it needs); the base owns
open/close, the context manager, the state enum with logged transitions and
the health snapshot the agent shows to store IT. Optional hardware libraries
are imported lazily so that a till without, say, a USB stack can still load
the package and ask ``is_usable()``.
"""
from __future__ import annotations

import enum
import importlib
import importlib.util
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from types import ModuleType, TracebackType
from typing import ClassVar

from drivers._errors import DeviceError

log = logging.getLogger(__name__)


class DeviceState(enum.Enum):
    """Where a device is in its life; transitions are logged."""

    CLOSED = "closed"
    OPEN = "open"
    DISCONNECTED = "disconnected"  # was open, lost; the driver is trying to get it back
    FAILED = "failed"  # could not be opened at all


@dataclass(frozen=True)
class DeviceHealth:
    """A snapshot for ``kopilka status``: state, last problem, counters."""

    name: str
    state: DeviceState
    detail: str = ""
    counters: dict[str, int] = field(default_factory=dict)


def optional_import(module: str) -> ModuleType:
    """Import an optional hardware library, or raise ``DeviceError("missing_library")``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DeviceError("missing_library", f"{module} is not installed") from exc


class Device:
    """Base of every driver: open/close, context manager, state, health."""

    #: libraries the driver needs at open time (imported lazily)
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str) -> None:
        self.name = name
        self._state = DeviceState.CLOSED
        self._detail = ""
        self._state_lock = threading.Lock()
        self.counters: Counter[str] = Counter()

    @classmethod
    def is_usable(cls) -> bool:
        """True when every library the driver needs can be imported."""
        return all(importlib.util.find_spec(m) is not None for m in cls.requires)

    @property
    def state(self) -> DeviceState:
        """The current state."""
        return self._state

    def _set_state(self, state: DeviceState, detail: str = "") -> None:
        with self._state_lock:
            old, self._state, self._detail = self._state, state, detail
        if old is not state:
            log.info("%s: %s -> %s %s", self.name, old.value, state.value, detail)

    def open(self) -> None:
        """Open the device; raises a ``DeviceError`` subclass when it cannot."""
        if self._state is DeviceState.OPEN:
            return
        for module in self.requires:
            optional_import(module)
        try:
            state = self._open_device()
        except DeviceError as exc:
            self._set_state(DeviceState.FAILED, str(exc))
            raise
        self._set_state(state or DeviceState.OPEN)

    def close(self) -> None:
        """Close the device; safe to call twice."""
        if self._state is DeviceState.CLOSED:
            return
        try:
            self._close_device()
        finally:
            self._set_state(DeviceState.CLOSED)

    def health(self) -> DeviceHealth:
        """A snapshot of state, last problem and counters."""
        return DeviceHealth(self.name, self._state, self._detail, dict(self.counters))

    def __enter__(self) -> Device:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- raw primitives a concrete device implements --------------------------
    def _open_device(self) -> DeviceState | None:
        """Open the hardware; may return the state to start in (default OPEN)."""
        raise NotImplementedError

    def _close_device(self) -> None:
        raise NotImplementedError
