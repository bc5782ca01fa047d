"""Signals for the long-running ``kopilka sim`` commands."""
from __future__ import annotations

import signal


def stop_on_signals() -> None:
    """Make Ctrl-C and SIGTERM raise ``KeyboardInterrupt`` in the main thread.

    A background job of a non-interactive shell (a CI script, ``cmd &``)
    starts with SIGINT ignored, and Python then never raises
    ``KeyboardInterrupt``; a simulator must still stop when asked.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
