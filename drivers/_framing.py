"""Cut a scanner's byte stream into frames, and say why the rest is noise.

Serial reads return whatever arrived: half a code, two codes, a code and
a half. The framer buffers bytes until the configured terminator (CR, LF,
CRLF) or, for scanners that send none, until the line has been quiet for
``gap`` seconds. It knows nothing about barcodes; it only decides what is a
frame and what is noise:

* ``non_printable`` — a control byte inside a frame (line noise, a scanner
  in the wrong mode); GS/RS/EOT are allowed because GS1 codes carry them;
* ``not_utf8`` — bytes above 0x7F that are not valid UTF-8;
* ``overlong`` — more than ``max_length`` bytes without a terminator; the
  rest up to the next terminator is discarded too;
* ``partial`` — a fragment left unfinished for ``stale`` seconds, or when
  the device was lost mid-frame.

Time is passed in (``now``) so the class is deterministic under test.
"""
from __future__ import annotations

from dataclasses import dataclass

TERMINATORS: dict[str, bytes | None] = {"CR": b"\r", "LF": b"\n", "CRLF": b"\r\n", "none": None}

# control bytes a GS1 / ISO 15434 code legitimately carries
_FORMAT_BYTES = frozenset(b"\x1d\x1e\x04")
_BAD_BYTES = frozenset(b for b in range(0x20) if b not in _FORMAT_BYTES) | {0x7F}


@dataclass(frozen=True)
class ScanFrame:
    """One complete frame, decoded as text; ``received`` is its last byte's time."""

    text: str
    received: float


@dataclass(frozen=True)
class Noise:
    """Bytes that were not a usable frame, and why."""

    reason: str
    data: bytes


class Framer:
    """Incremental framer: ``feed`` bytes, ``poll`` when the line is quiet."""

    def __init__(
        self,
        terminator: str = "CR",
        *,
        max_length: int = 1024,
        gap: float = 0.05,
        stale: float = 1.0,
    ) -> None:
        if terminator not in TERMINATORS:
            raise ValueError(f"terminator must be one of {sorted(TERMINATORS)}")
        self.terminator = TERMINATORS[terminator]
        self.max_length = max_length
        self.gap = gap
        self.stale = stale
        self._buf = bytearray()
        self._last = 0.0
        self._discarding = False

    def deadline(self) -> float | None:
        """When ``poll`` will next have something to say, or None."""
        if not self._buf and not self._discarding:
            return None
        return self._last + (self.gap if self.terminator is None else self.stale)

    def feed(self, data: bytes, now: float) -> list[ScanFrame | Noise]:
        """Take newly read bytes; return the frames and noise they complete."""
        out: list[ScanFrame | Noise] = self.poll(now)
        self._last = now
        term = self.terminator
        if term is None:
            if not self._discarding:
                self._buf += data
                self._check_overlong(out, keep=0)
            return out
        self._buf += data
        while (i := self._buf.find(term)) >= 0:
            chunk = bytes(self._buf[:i])
            del self._buf[: i + len(term)]
            if self._discarding:
                self._discarding = False
            else:
                self._emit(chunk, now, out)
        if self._discarding:
            self._keep_tail(len(term) - 1)
        else:
            self._check_overlong(out, keep=len(term) - 1)
        return out

    def poll(self, now: float) -> list[ScanFrame | Noise]:
        """Close a frame the line's silence has ended (no terminator) or expire a stale one."""
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return []
        out: list[ScanFrame | Noise] = []
        if self.terminator is None:
            self._complete(now, out)
        else:
            out.extend(self.reset())
        return out

    def reset(self) -> list[Noise]:
        """Drop what is buffered (device lost): an unfinished fragment is noise."""
        out = [Noise("partial", bytes(self._buf))] if self._buf else []
        self._buf.clear()
        self._discarding = False
        return out

    # -- internals -------------------------------------------------------------
    def _keep_tail(self, keep: int) -> None:
        # while discarding, keep just enough to see a terminator split across reads
        if keep:
            del self._buf[:-keep]
        else:
            self._buf.clear()

    def _check_overlong(self, out: list[ScanFrame | Noise], keep: int) -> None:
        if len(self._buf) > self.max_length:
            out.append(Noise("overlong", bytes(self._buf[: self.max_length])))
            self._discarding = True
            self._keep_tail(keep)

    def _complete(self, now: float, out: list[ScanFrame | Noise]) -> None:
        chunk = bytes(self._buf)
        self._buf.clear()
        if self._discarding:
            self._discarding = False
            return
        self._emit(chunk, now, out)

    def _emit(self, chunk: bytes, now: float, out: list[ScanFrame | Noise]) -> None:
        if len(chunk) > self.max_length:
            out.append(Noise("overlong", chunk[: self.max_length]))
            return
        raw = chunk.strip(b"\r\n")
        if not raw:
            return  # an empty line (CR+LF from a scanner set to CRLF on a CR till)
        if not _BAD_BYTES.isdisjoint(raw):
            out.append(Noise("non_printable", raw))
            return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            out.append(Noise("not_utf8", raw))
            return
        out.append(ScanFrame(text, now))
