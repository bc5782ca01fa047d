"""A background loop's thread, its wake-up and its stop: written once.

The till's uploader and the ledger's auditor each run one daemon thread
that sleeps until woken (new work) or stopped; ``stop`` wakes it and waits
for the current step to finish, so nothing is cut off halfway.
"""
from __future__ import annotations

import threading


class BackgroundLoop:
    """Owns ``_wake``, ``_stop`` and the thread running ``_run`` (the subclass's loop)."""

    def __init__(self, name: str) -> None:
        self._loop_name = name
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:  # pragma: no cover - every subclass has its own loop
        raise NotImplementedError

    def start(self) -> None:
        """Run the loop in a daemon thread until ``stop`` (a second call does nothing)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._loop_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop: wake it and wait for the step it is in to finish."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
