"""The receipt printer: python-escpos connections, status first, bytes kept.

``print_receipt`` asks the printer's status (DLE EOT 1..4, short timeouts)
before sending and refuses when it is not ready — and when it does not
answer, because no answer means *unknown*, never OK (set
``print_when_unknown`` for printers without a back channel). It asks again
after sending; a fault then raises ``PrinterError(sent=True)``: the printer
holds the job, so nothing is sent twice. Every job's bytes are kept by
receipt id; ``reprint`` sends the same body between two "КОПИЯ" marks and
``print_receipt`` refuses a receipt id it already printed.

Connections (``url``): ``tcp://host:9100``, ``serial:///dev/ttyUSB0?baudrate=19200``,
``usb://04b8:0202``, ``file:///dev/usb/lp0``.
"""
from __future__ import annotations

import logging
import socket
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

from drivers._device import Device, optional_import
from drivers._errors import DeviceError, PrinterError
from drivers._escpos_encode import Encoder, cut_bytes, drawer_bytes, init_bytes
from drivers._printer_status import PrinterCondition, PrinterStatus, decode, is_status_byte
from drivers._receipt import Block, Line, SaleInfo, layout, return_layout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrinterConfig:
    """Printer settings from the till config (``[printer]``)."""

    url: str = "tcp://127.0.0.1:9100"
    codepage: str = "CP866"
    profile: str | None = None  # python-escpos profile name
    codepage_number: int | None = None  # override ESC t n for odd tables
    as_image: bool = False  # print text as pictures (printer lacks the code page)
    columns: int = 48
    status_timeout: float = 0.3
    connect_timeout: float = 3.0
    print_when_unknown: bool = False
    receipt_code: str = "qr"  # qr or code128
    keep_jobs: int = 200


@dataclass(frozen=True)
class PrintJob:
    """A sent receipt: ``body`` (init to last line) and ``tail`` (feed and cut)."""

    receipt_id: str
    body: bytes
    tail: bytes
    as_image: bool

    @property
    def data(self) -> bytes:
        """The exact bytes sent."""
        return self.body + self.tail


@dataclass(frozen=True)
class PrintOutcome:
    """What happened: the job, the status before and after, copy or not."""

    job: PrintJob
    before: PrinterStatus
    after: PrinterStatus
    copy: bool = False


class Printer(Device):
    """An ESC/POS receipt printer."""

    requires = ("escpos",)

    def __init__(self, config: PrinterConfig) -> None:
        super().__init__("printer")
        self.config = config
        self.encoder = Encoder(
            codepage=config.codepage, profile=config.profile, codepage_number=config.codepage_number,
            as_image=config.as_image, columns=config.columns,
        )
        self.jobs: OrderedDict[str, PrintJob] = OrderedDict()
        self._conn: Any = None
        self._kind = ""

    # -- connection ------------------------------------------------------------------
    def _open_device(self) -> None:
        printers = optional_import("escpos.printer")
        url = urlparse(self.config.url)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self._kind = url.scheme
        try:
            if url.scheme == "tcp":
                host, port = url.hostname or "127.0.0.1", url.port or 9100
                conn = printers.Network(host, port, timeout=self.config.connect_timeout)
                # connect ourselves: python-escpos 3.1 leaks the socket when connect fails
                conn.device = socket.create_connection((host, port), timeout=self.config.connect_timeout)
            elif url.scheme == "serial":
                conn = printers.Serial(url.path, baudrate=int(query.get("baudrate", 19200)), timeout=self.config.status_timeout)
            elif url.scheme == "usb":
                vid, pid = (int(x, 16) for x in (url.netloc or url.path.strip("/")).split(":"))
                conn = printers.Usb(vid, pid)
            elif url.scheme == "file":
                conn = printers.File(url.path)
            else:
                raise PrinterError("bad_url", f"unsupported printer url {self.config.url!r}")
            if url.scheme != "tcp":
                conn.open()
        except PrinterError:
            raise
        except Exception as exc:  # python-escpos raises its own tree and OSError
            raise PrinterError("connection", f"cannot open {self.config.url}: {exc}") from exc
        self._conn = conn

    def _close_device(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:  # noqa: BLE001 - closing must not fail the caller
                log.debug("printer: close failed: %s", exc)

    # -- raw primitives ----------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self._conn is None:
            raise PrinterError("not_open", "printer is not open")
        try:
            self._conn._raw(data)
        except Exception as exc:
            raise PrinterError("connection", f"write failed: {exc}", sent=False) from exc

    def _drain(self) -> None:
        if self._kind == "tcp":
            sock: socket.socket = self._conn.device
            sock.setblocking(False)
            try:
                while sock.recv(256):
                    pass
            except OSError:
                pass
            finally:
                sock.settimeout(self.config.connect_timeout)
        elif self._kind == "serial":
            self._conn.device.reset_input_buffer()

    def _read(self, timeout: float) -> bytes:
        """At most a few bytes within ``timeout``; b"" when the printer stays silent."""
        try:
            if self._kind == "tcp":
                sock: socket.socket = self._conn.device
                sock.settimeout(timeout)
                try:
                    return sock.recv(16)
                except TimeoutError:
                    return b""
                finally:
                    sock.settimeout(self.config.connect_timeout)
            if self._kind == "serial":
                self._conn.device.timeout = timeout
                return bytes(self._conn.device.read(1))
            if self._kind == "usb":
                return bytes(self._conn.device.read(self._conn.in_ep, 16, int(timeout * 1000)))
        except Exception as exc:  # noqa: BLE001 - a failed read is "no answer"
            log.debug("printer: status read failed: %s", exc)
        return b""  # file connections have no back channel

    # -- status ------------------------------------------------------------------------
    def status(self) -> PrinterStatus:
        """Ask DLE EOT 1..4; parts without an answer stay unknown."""
        if self._conn is None:
            raise PrinterError("not_open", "printer is not open")
        answers: dict[int, int] = {}
        if self._kind == "file":
            return decode(answers)  # no back channel: unknown, by definition
        self._drain()
        for n in (1, 2, 3, 4):
            self._write(b"\x10\x04" + bytes([n]))
            got = self._read(self.config.status_timeout)
            if not got or not is_status_byte(got[-1]):
                self.counters["status_no_answer"] += 1
                log.warning("printer: no valid answer to DLE EOT %d (%r)", n, got)
                break  # a silent printer stays silent; do not wait four times
            answers[n] = got[-1]
        return decode(answers)

    def _check(self, status: PrinterStatus, *, sent: bool) -> None:
        cond = status.condition
        if status.can_print:
            return
        if cond is PrinterCondition.UNKNOWN:
            if self.config.print_when_unknown:
                return
            raise PrinterError("status_unknown", "the printer did not answer its status", sent=sent)
        raise PrinterError(cond.value, f"printer reports {cond.value}", sent=sent)

    # -- printing ----------------------------------------------------------------------
    def print_receipt(
        self, result: Mapping[str, Any], sale: SaleInfo, *, kick_drawer: bool = False, kind: str = "sale",
        copy: bool = False,
    ) -> PrintOutcome:
        """Print a sale (``kind="sale"``) or a return (``"return"``) with the
        one layout; raises ``PrinterError`` with a reason when it cannot.

        ``copy``: a copy marked "КОПИЯ", printed from the stored numbers
        (after a restart the kept bytes are gone); it may repeat a receipt id.
        """
        if sale.receipt_id in self.jobs and not copy:
            raise PrinterError("already_printed", f"{sale.receipt_id} was printed; use reprint()")
        lay = return_layout if kind == "return" else layout
        blocks = lay(result, sale, columns=self.config.columns, code=self.config.receipt_code, copy=copy)  # type: ignore[arg-type]
        return self.print_blocks(sale.receipt_id, blocks, kick_drawer=kick_drawer, keep=not copy)

    def print_blocks(self, receipt_id: str, blocks: list[Block], *, kick_drawer: bool = False,
                     keep: bool = True) -> PrintOutcome:
        """Print a laid-out document and cut; kept for ``reprint`` when ``keep``."""
        body, as_image = self.encoder.encode(blocks)
        tail = (drawer_bytes() if kick_drawer else b"") + cut_bytes()
        job = PrintJob(receipt_id, init_bytes() + body, tail, as_image)
        try:
            outcome = self._send(job, job.data)
        except PrinterError as exc:
            if exc.sent and keep:
                self._keep(job)  # it reached the printer: only an explicit reprint may follow
            raise
        if keep:
            self._keep(job)
        return outcome

    def _keep(self, job: PrintJob) -> None:
        self.jobs[job.receipt_id] = job
        while len(self.jobs) > self.config.keep_jobs:
            self.jobs.popitem(last=False)

    def reprint(self, receipt_id: str) -> PrintOutcome:
        """Print a kept receipt again, marked "КОПИЯ" at the top and bottom."""
        job = self.jobs.get(receipt_id)
        if job is None:
            raise PrinterError("unknown_receipt", f"no kept receipt {receipt_id}")
        from drivers._receipt import WORDS

        mark, _ = self.encoder.encode([Line(WORDS["ru"]["copy"], "center", bold=True, big=True)])
        data = init_bytes() + mark + job.body + mark + cut_bytes()
        self.counters["reprints"] += 1
        return PrintOutcome(job, *self._send_pair(data), copy=True)

    def kick_drawer(self) -> None:
        """Open the cash drawer (pin 2, 100 ms pulse)."""
        self._write(drawer_bytes())

    def print_lines(self, lines: list[str]) -> PrintOutcome:
        """Print plain lines and cut (``kopilka hw test-print``)."""
        return self.print_blocks("test", [Line(t) for t in lines], keep=False)

    def _send(self, job: PrintJob, data: bytes) -> PrintOutcome:
        return PrintOutcome(job, *self._send_pair(data))

    def _send_pair(self, data: bytes) -> tuple[PrinterStatus, PrinterStatus]:
        before = self.status()
        self._check(before, sent=False)
        try:
            self._write(data)
        except DeviceError:
            self.counters["failed"] += 1
            raise
        self.counters["printed"] += 1
        after = self.status()
        if after.condition is not PrinterCondition.UNKNOWN:
            self._check(after, sent=True)
        else:
            log.warning("printer: status unknown after sending; the job may or may not be on paper")
        return before, after
