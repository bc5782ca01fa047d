"""``kopilka demo``: one till, one short shift, everything real but the devices.

A composition root above the packages: a SQLite ledger served by uvicorn on
a free 127.0.0.1 port, a chaos proxy between the till and the ledger (the
store's link), the pty scanner twin, a phone showing the app's QR code in
front of the camera twin, and the ESC/POS printer twin rendering receipts.
The agent runs on top exactly as on a till. The scenes: two customers
identify with their phones, goods go through the scanner (apples weighed at
the shop scale, a coupon from a flyer), points are spent online (a ledger
hold) and offline (the token's cap) while the link is cut, a plastic card
from the store's cache, a return, the link comes back, the queue drains;
then the receipts as printed and a sync report. ``run_demo`` returns the
facts so a test can check them.
"""
from __future__ import annotations

from ._cast import BUNDLE, MEMBERS
from ._cli import demo
from ._result import DemoResult
from ._run import run_demo
from ._stage import Stage, first_pull

__all__ = [
    "BUNDLE",
    "DemoResult",
    "MEMBERS",
    "Stage",
    "demo",
    "first_pull",
    "run_demo",
]
