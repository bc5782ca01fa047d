"""A small fan-out of agent events (scanner, camera, session) to listeners.

The SSE stream and tests subscribe; publishing never blocks the sale path:
a subscriber that does not keep up loses its oldest events, not the till.
"""
from __future__ import annotations

import itertools
import queue
import threading
from typing import Any, Callable

Event = dict[str, Any]


class EventBus:
    """Publish ``{"type", "id", ...}`` dicts to every subscriber queue."""

    def __init__(self, maxsize: int = 1000) -> None:
        self._subs: list[queue.Queue[Event]] = []
        self._callbacks: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.maxsize = maxsize

    def subscribe(self) -> queue.Queue[Event]:
        q: queue.Queue[Event] = queue.Queue(self.maxsize)
        with self._lock:
            self._subs.append(q)
        return q

    def unsubscribe(self, q: queue.Queue[Event]) -> None:
        with self._lock:
            if q in self._subs:
                self._subs.remove(q)

    def add_callback(self, fn: Callable[[Event], None]) -> None:
        """Call ``fn(event)`` on each publish (it must not block)."""
        with self._lock:
            self._callbacks.append(fn)

    def remove_callback(self, fn: Callable[[Event], None]) -> None:
        with self._lock:
            if fn in self._callbacks:
                self._callbacks.remove(fn)

    def publish(self, type_: str, **data: Any) -> Event:
        event: Event = {"type": type_, "id": next(self._ids), **data}
        with self._lock:
            subs = list(self._subs)
            callbacks = list(self._callbacks)
        for fn in callbacks:
            fn(event)
        for q in subs:
            while True:
                try:
                    q.put_nowait(event)
                    break
                except queue.Full:
                    try:
                        q.get_nowait()
                    except queue.Empty:
                        pass
        return event
