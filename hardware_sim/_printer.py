"""A network receipt printer twin: ESC/POS over TCP (port 9100 by default).

The model is stateful and thread-safe: paper (ok / near_end / out), cover,
offline, silent, the code page in force, cuts, drawer kicks, and every
receipt (split at the cut) rendered to text and PNG. Like a real printer:

* DLE EOT 1..4 status queries are answered at once, even while the printer
  is stopped (they are real-time commands);
* with paper out, cover open or offline it stops printing and *holds* what
  it receives; ``set_paper("ok")`` / ``close_cover()`` / ``set_offline(False)``
  release it and the held job prints;
* ``paper_lines_left`` makes the roll run out part-way through a job;
* ``silent`` never answers a status query (a printer whose back channel is
  dead — the driver must then say "unknown", never "ok").
"""
from __future__ import annotations

import logging
import os
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from hardware_sim._escpos_parse import BARCODE_TYPES, Op, parse_one
from hardware_sim._paper import Page, Receipt, Style

log = logging.getLogger(__name__)

#: ESC t n -> Python codec (Epson's table; printers differ, hence configurable)
EPSON_CODE_PAGES: dict[int, str] = {
    0: "cp437", 2: "cp850", 3: "cp860", 4: "cp863", 5: "cp865", 16: "cp1252",
    17: "cp866", 18: "cp852", 19: "cp858", 46: "cp1251",
}
_REALTIME = re.compile(rb"\x10\x04([\x01-\x04])")


@dataclass(frozen=True)
class DrawerKick:
    """An ESC p pulse: connector pin (0 = pin 2, 1 = pin 5) and on/off times."""

    pin: int
    on_ms: int
    off_ms: int


class PrinterTwin:
    """ESC/POS printer on 127.0.0.1; tests assert on its state and receipts."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9100,
        *,
        columns: int = 48,
        code_pages: dict[int, str] | None = None,
        render_png: bool = True,
        on_receipt: Callable[[Receipt], None] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.columns = columns
        self.code_pages = dict(code_pages or EPSON_CODE_PAGES)
        self.render_png = render_png
        self.on_receipt = on_receipt
        # the model
        self.paper = "ok"
        self.cover_open = False
        self.offline = False
        self.silent = False
        self.paper_lines_left: int | None = None
        self.code_page = 0
        self.cuts = 0
        self.drawer_kicks: list[DrawerKick] = []
        self.receipts: list[Receipt] = []
        self.status_queries = 0
        self.bytes_received = 0
        self.unknown: list[bytes] = []
        # internals
        self._cond = threading.Condition()
        self._buf = bytearray()
        self._raw = bytearray()  # bytes of the current receipt
        self._rt_scanned = 0
        self._rt_answered: set[int] = set()
        self._style = Style()
        self._qr_data = ""
        self._qr_module = 3
        self._page = Page(columns)
        self._server: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # -- server ----------------------------------------------------------------------
    def start(self) -> PrinterTwin:
        """Listen on host:port (port 0 picks a free one; see ``self.port``)."""
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((self.host, self.port))
        srv.listen(8)
        self.port = srv.getsockname()[1]
        self._server = srv
        t = threading.Thread(target=self._accept, name="printer-twin-accept", daemon=True)
        t.start()
        self._threads.append(t)
        log.info("printer twin listening on %s:%d", self.host, self.port)
        return self

    def stop(self) -> None:
        """Close the listener and every connection; join the threads."""
        self._stopping.set()
        if self._server is not None:
            try:
                self._server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._server.close()
            self._server = None
        with self._cond:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=5)
        self._threads.clear()

    def __enter__(self) -> PrinterTwin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``tcp://host:port`` for the driver's config."""
        return f"tcp://{self.host}:{self.port}"

    def _accept(self) -> None:
        assert self._server is not None
        srv = self._server
        while not self._stopping.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with self._cond:
                self._conns.add(conn)
            t = threading.Thread(target=self._serve, args=(conn,), name="printer-twin-conn", daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        def reply(data: bytes) -> None:
            try:
                conn.sendall(data)
            except OSError:
                pass

        try:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                self.feed(data, reply)
        finally:
            with self._cond:
                self._conns.discard(conn)
            conn.close()

    # -- switches (the test's hands on the printer) ----------------------------------
    def set_paper(self, state: str) -> None:
        """``"ok"`` (reloaded: a held job prints), ``"near_end"`` or ``"out"``."""
        if state not in ("ok", "near_end", "out"):
            raise ValueError(state)
        with self._cond:
            self.paper = state
            if state != "out":
                self.paper_lines_left = None
            self._process(None)

    def open_cover(self) -> None:
        """Open the cover: the printer stops."""
        with self._cond:
            self.cover_open = True

    def close_cover(self) -> None:
        """Close the cover: a held job prints."""
        with self._cond:
            self.cover_open = False
            self._process(None)

    def set_offline(self, offline: bool) -> None:
        """Take the printer offline (it stops) or back online (a held job prints)."""
        with self._cond:
            self.offline = offline
            self._process(None)

    def set_silent(self, silent: bool) -> None:
        """Stop (or resume) answering status queries; printing is unaffected."""
        with self._cond:
            self.silent = silent

    @property
    def halted(self) -> bool:
        """True while the printer is stopped and holding what it receives."""
        return self.paper == "out" or self.cover_open or self.offline

    @property
    def held_bytes(self) -> int:
        """How many received bytes wait for the printer to resume."""
        with self._cond:
            return len(self._buf)

    def wait_for_receipts(self, count: int, timeout: float = 5.0) -> bool:
        """Block until ``count`` receipts have been cut (or the timeout)."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self.receipts) >= count, timeout)

    def wait_for(self, predicate: Callable[[PrinterTwin], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate(self)`` holds (checked whenever bytes arrive)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    # -- status bytes ----------------------------------------------------------------
    def status_byte(self, n: int) -> int:
        """The DLE EOT ``n`` answer for the current state (fixed bits 0x12)."""
        b = 0x12
        if n == 1 and self.halted:
            b |= 0x08
        elif n == 2:
            b |= (0x04 if self.cover_open else 0) | (0x20 if self.paper == "out" else 0)
        elif n == 4:
            b |= 0x0C if self.paper in ("near_end", "out") else 0
            b |= 0x60 if self.paper == "out" else 0
        return b

    # -- the byte stream --------------------------------------------------------------
    def feed(self, data: bytes, reply: Callable[[bytes], None] | None = None) -> None:
        """Take bytes from a connection (``reply`` sends status answers back)."""
        with self._cond:
            self.bytes_received += len(data)
            self._buf += data
            self._process(reply)
            self._cond.notify_all()

    def _answer(self, n: int, reply: Callable[[bytes], None] | None) -> None:
        self.status_queries += 1
        if reply is not None and not self.silent:
            reply(bytes([self.status_byte(n)]))

    def _realtime(self, reply: Callable[[bytes], None] | None) -> None:
        # a stopped printer still answers DLE EOT from its receive buffer
        start = max(0, self._rt_scanned - 2)
        for m in _REALTIME.finditer(self._buf, start):
            if m.start() not in self._rt_answered:
                self._rt_answered.add(m.start())
                self._answer(m.group(1)[0], reply)
        self._rt_scanned = len(self._buf)

    def _process(self, reply: Callable[[bytes], None] | None) -> None:
        pos = 0
        buf = self._buf
        while pos < len(buf):
            if self.halted:
                break
            got = parse_one(buf, pos)
            if got is None:
                break
            op, end = got
            if op.name == "status" and pos in self._rt_answered:
                pass  # already answered in real time while stopped
            else:
                self._apply(op, bytes(buf[pos:end]), reply)
            pos = end
        del buf[:pos]
        self._rt_answered = {p - pos for p in self._rt_answered if p >= pos}
        self._rt_scanned = max(0, self._rt_scanned - pos)
        if self.halted and buf:
            self._realtime(reply)
            # answered queries at the head of the buffer are done with
            skip = 0
            while skip in self._rt_answered:
                skip += 3
            if skip:
                del buf[:skip]
                self._rt_answered = {p - skip for p in self._rt_answered if p >= skip}
                self._rt_scanned = max(0, self._rt_scanned - skip)
        self._cond.notify_all()

    def _apply(self, op: Op, raw: bytes, reply: Callable[[bytes], None] | None) -> None:
        if op.name == "status":
            self._answer(op.arg, reply)
            return
        self._raw += raw
        st, name = self._style, op.name
        if name == "text":
            codec = self.code_pages.get(self.code_page, "cp437")
            self._page.text(op.data.decode(codec, errors="replace"), st)
        elif name == "newline":
            self._page.newline()
            self._use_paper(1)
        elif name == "feed":
            for _ in range(op.arg):
                self._page.newline()
            self._use_paper(op.arg)
        elif name == "init":
            self._style = Style()
            self.code_page = 0
        elif name == "codepage":
            self.code_page = op.arg
        elif name == "bold":
            st.bold = bool(op.arg & 1)
        elif name == "underline":
            st.underline = bool(op.arg & 3)
        elif name == "mode":
            st.bold = bool(op.arg & 0x08)
            st.height = 2 if op.arg & 0x10 else 1
            st.width = 2 if op.arg & 0x20 else 1
            st.underline = bool(op.arg & 0x80)
        elif name == "size":
            st.width, st.height = (op.arg >> 4) + 1, (op.arg & 0x0F) + 1
        elif name == "align":
            st.align = op.arg % 48 if op.arg >= 48 else op.arg
        elif name == "barcode":
            kind = BARCODE_TYPES.get(op.arg, f"type{op.arg}")
            text = op.data.decode("ascii", errors="replace")
            if kind == "CODE128" and text[:1] == "{":
                text = text[2:]
            self._page.barcode(kind, text, st)
        elif name == "qr_store":
            self._qr_data = op.data.decode("utf-8", errors="replace")
        elif name == "qr_size":
            self._qr_module = op.arg
        elif name == "qr_print":
            self._page.qr(self._qr_data, self._qr_module, st)
        elif name == "image":
            self._page.image(op.data, op.width, op.height, st)
            self._use_paper(max(1, op.height // 24))
        elif name == "drawer":
            self.drawer_kicks.append(DrawerKick(op.data[0] & 1, op.data[1] * 2, op.data[2] * 2))
        elif name == "cut":
            self._cut("partial" if op.arg else "full")
        elif name == "unknown":
            self.unknown.append(op.data)
            log.warning("printer twin: unknown command %r", op.data)

    def _use_paper(self, lines: int) -> None:
        if self.paper_lines_left is None:
            return
        self.paper_lines_left -= lines
        if self.paper_lines_left <= 0:
            self.paper_lines_left = 0
            self.paper = "out"
            log.info("printer twin: paper ran out")

    def _cut(self, kind: str) -> None:
        self.cuts += 1
        page, self._page = self._page, Page(self.columns)
        receipt = Receipt(
            index=len(self.receipts) + 1,
            text=page.render_text(),
            png=page.render_png() if self.render_png else None,
            raw=bytes(self._raw),
            barcodes=page.barcodes,
            qrs=page.qrs,
            images=page.images,
            cut=kind,
        )
        self._raw.clear()
        self.receipts.append(receipt)
        if self.on_receipt is not None:
            self.on_receipt(receipt)


def write_receipt(receipt: Receipt, out_dir: str) -> tuple[str, str | None]:
    """Write ``NNNN.txt`` (UTF-8) and ``NNNN.png`` into ``out_dir``; return the paths."""
    os.makedirs(out_dir, exist_ok=True)
    base = os.path.join(out_dir, f"{receipt.index:04d}")
    with open(base + ".txt", "w", encoding="utf-8") as f:
        f.write(receipt.text)
    png = None
    if receipt.png is not None:
        png = base + ".png"
        with open(png, "wb") as f:
            f.write(receipt.png)
    return base + ".txt", png
