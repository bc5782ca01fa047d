"""One uploader per till database: an ``fcntl`` lock on a file beside it.

Why a lock file and not a lease row: the kernel drops an ``flock`` the
moment its holder dies (even ``kill -9``), so a crashed agent never leaves
a stale lease behind, and a second agent started by mistake is refused at
once instead of uploading the same rows in parallel.
"""
from __future__ import annotations

import fcntl
import os

from ._errors import UploaderBusy


class UploaderLock:
    """An exclusive, non-blocking lock on ``<db path>.uploader.lock``."""

    def __init__(self, db_path: str) -> None:
        self.path = db_path + ".uploader.lock"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            try:
                with open(self.path, encoding="ascii") as f:
                    holder = f.read().strip() or "?"
            except OSError:  # pragma: no cover
                holder = "?"
            raise UploaderBusy("busy", f"another uploader (pid {holder}) holds {self.path}") from exc
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        """True until :meth:`release`."""
        return self._fd is not None

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
