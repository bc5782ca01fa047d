"""``kopilka hw ...``: store IT checks against the real (or simulated) devices.

The ``hw`` group is shared: scanner and printer checks live here, the camera
checks (``hw decode``, ``hw test-camera``) add their commands to it.
"""
from __future__ import annotations

import click


@click.group()
def hw() -> None:
    """Check the till's hardware: print a test receipt, read test scans.

    Example: kopilka hw test-print --printer tcp://127.0.0.1:9100
    """


from ._camera_cli import add_camera_source, decode, test_camera  # noqa: E402  (the camera checks)

hw.add_command(decode)
hw.add_command(test_camera)

__all__ = ["add_camera_source", "hw"]

from ._device_cli import test_print, test_scan  # noqa: E402  (the scanner and printer checks)

hw.add_command(test_print)
hw.add_command(test_scan)
