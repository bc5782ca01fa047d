"""A serial barcode scanner twin on a pseudo-terminal.

The twin owns the master side of a pty; the driver opens the slave path
(``/dev/pts/N``) exactly as it opens ``/dev/ttyACM0``. A symlink in
``link_dir`` plays ``/dev/serial/by-id/usb-...``: ``unplug()`` closes the
master (the driver's next read fails with EIO, as a pulled USB cable does)
and removes the link; ``replug()`` opens a fresh pty — a new ``/dev/pts``
number, as a real device comes back under a new ttyACM name — and points
the link at it.
"""
from __future__ import annotations

import logging
import os
import random
import threading
import time
import tty

log = logging.getLogger(__name__)

_TERMINATORS = {"CR": b"\r", "LF": b"\n", "CRLF": b"\r\n", "none": b""}


class ScannerTwin:
    """Emits codes into a pty like a scanner in USB-CDC / RS-232 mode."""

    def __init__(
        self,
        *,
        terminator: str = "CR",
        prefix: str | None = None,
        link_dir: str | None = None,
        link_name: str = "usb-Kopilka_Sim_Scanner_0001-if00",
        char_delay: float = 0.0,
    ) -> None:
        if terminator not in _TERMINATORS:
            raise ValueError(f"terminator must be one of {sorted(_TERMINATORS)}")
        self.terminator = terminator
        self.prefix = prefix
        self.char_delay = char_delay
        self.link = os.path.join(link_dir, link_name) if link_dir else None
        self._master: int | None = None
        self._slave: int | None = None
        self.path: str | None = None
        self.sent: list[bytes] = []  # every write, for tests to compare exact bytes
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------
    def open(self) -> ScannerTwin:
        """Plug the scanner in: a new pty, and the by-id link pointing at it."""
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR->LF translation before the driver opens
        self._master, self._slave = master, slave
        self.path = os.ttyname(slave)
        if self.link:
            tmp = f"{self.link}.tmp"
            os.symlink(self.path, tmp)
            os.replace(tmp, self.link)  # the link moves atomically, like udev's
        log.info("scanner twin: plugged in at %s", self.path)
        return self

    def unplug(self) -> None:
        """Pull the cable: the driver's reads fail; the by-id link disappears."""
        with self._lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    os.close(fd)
            self._master = self._slave = None
        if self.link and os.path.islink(self.link):
            os.unlink(self.link)
        log.info("scanner twin: unplugged %s", self.path)

    def replug(self) -> str:
        """Plug back in under a new device name; returns the new pty path."""
        if self._master is not None:
            self.unplug()
        old = self.path
        # hold the freed pty number so the device really comes back renamed
        spare = os.openpty() if old else None
        try:
            self.open()
        finally:
            if spare:
                os.close(spare[0])
                os.close(spare[1])
        assert self.path is not None and self.path != old
        return self.path

    def close(self) -> None:
        """Unplug for good."""
        if self._master is not None:
            self.unplug()

    def __enter__(self) -> ScannerTwin:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- emitting --------------------------------------------------------------------
    def frame(self, code: str | bytes, *, prefix: str | None = None, terminator: str | None = None) -> bytes:
        """The exact bytes a scan of ``code`` sends."""
        body = code.encode("utf-8") if isinstance(code, str) else code
        aim = prefix if prefix is not None else self.prefix
        term = _TERMINATORS[terminator or self.terminator]
        return (aim.encode("ascii") if aim else b"") + body + term

    def scan(self, code: str | bytes, *, prefix: str | None = None, terminator: str | None = None) -> bytes:
        """Send one scan (with prefix and terminator); returns the bytes sent."""
        data = self.frame(code, prefix=prefix, terminator=terminator)
        self.write(data)
        return data

    def write(self, data: bytes) -> None:
        """Send raw bytes, paced at ``char_delay`` seconds per byte (a slow scanner)."""
        with self._lock:
            if self._master is None:
                raise OSError("scanner twin is unplugged")
            self.sent.append(data)
            if self.char_delay <= 0:
                os.write(self._master, data)
                return
            master = self._master
        for i in range(len(data)):
            os.write(master, data[i : i + 1])
            time.sleep(self.char_delay)  # the simulated device's own pace

    def noise(self, count: int = 16, *, seed: int = 0) -> bytes:
        """Send ``count`` random control bytes (a bad cable), ending with the terminator."""
        rng = random.Random(seed)
        junk = bytes(rng.choice(b"\x00\x01\x02\x07\x08\x1b\x7f\xff") for _ in range(count))
        data = junk + _TERMINATORS[self.terminator]
        self.write(data)
        return data
