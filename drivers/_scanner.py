"""The barcode scanner: a serial / USB-CDC device read by a background thread.

The reader thread reads whatever bytes arrived, lets the ``Framer`` cut
frames, ``interpret`` type them, and queues every good scan — two quick
scans are two events, never one overwriting the other. Noise and invalid
codes are dropped, counted (``counters["dropped.<reason>"]``) and logged.

Unplugging a USB scanner makes pyserial raise ``SerialException`` while
``is_open`` stays true; the thread then closes the port, drops the partial
frame, and looks for the device again every ``reconnect_interval`` — by the
configured path (a ``/dev/serial/by-id`` symlink survives renumbering) or
the first match of ``find`` (a glob) — until it is back. The agent never
restarts for it.
"""
from __future__ import annotations

import glob
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from drivers._barcode import BarcodeRules, interpret
from drivers._device import Device, DeviceState, optional_import
from drivers._errors import ScannerError
from drivers._framing import Framer, Noise, ScanFrame
from drivers._scan_event import ScanEvent, ScanKind, ScanRejected

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScannerConfig:
    """Scanner settings from the till config (``[scanner]``)."""

    port: str = "/dev/ttyACM0"
    baudrate: int = 9600
    terminator: str = "CR"  # CR, LF, CRLF or none
    gap: float = 0.05  # silence that ends a frame when terminator is none
    stale: float = 1.0  # an unfinished fragment older than this is noise
    max_length: int = 1024
    find: str | None = None  # glob to find the device again, e.g. /dev/serial/by-id/*Scanner*
    reconnect_interval: float = 0.2
    wait_for_device: bool = False  # open() succeeds while unplugged and waits for it
    queue_size: int = 1000
    rules: BarcodeRules = field(default_factory=BarcodeRules)


class Scanner(Device):
    """A serial barcode scanner; ``get()`` returns the next ``ScanEvent``."""

    requires = ("serial",)

    def __init__(
        self,
        config: ScannerConfig,
        *,
        on_event: Callable[[ScanEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__("scanner")
        self.config = config
        self.events: queue.Queue[ScanEvent] = queue.Queue(config.queue_size)
        self._on_event = on_event
        self._clock = clock
        self._framer = Framer(
            config.terminator, max_length=config.max_length, gap=config.gap, stale=config.stale
        )
        self._serial: Any = None
        self._path: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()  # set while the port is open
        self.reconnects = 0

    # -- public ------------------------------------------------------------------
    @property
    def path(self) -> str | None:
        """The device node currently open (after following symlinks), or None."""
        return self._path

    def get(self, timeout: float | None = None) -> ScanEvent | None:
        """The next scan, waiting up to ``timeout`` seconds; None if there was none."""
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    # -- Device primitives -----------------------------------------------------------
    def _open_device(self) -> DeviceState | None:
        self._stop.clear()
        state = None
        if self._connect():
            self.connected.set()
        else:
            if not self.config.wait_for_device:
                raise ScannerError("not_found", f"no scanner at {self._candidates() or self.config.port}")
            log.warning("scanner: not present yet, waiting for %s", self.config.find or self.config.port)
            state = DeviceState.DISCONNECTED
        self._thread = threading.Thread(target=self._run, name="scanner-reader", daemon=True)
        self._thread.start()
        return state

    def _close_device(self) -> None:
        self._stop.set()
        ser = self._serial
        if ser is not None:
            try:
                ser.cancel_read()
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._disconnect()

    # -- connection ------------------------------------------------------------------
    def _candidates(self) -> list[str]:
        if self.config.find:
            return sorted(glob.glob(self.config.find))
        return [self.config.port] if os.path.exists(self.config.port) else []

    def _connect(self) -> bool:
        serial = optional_import("serial")
        for path in self._candidates():
            real = os.path.realpath(path)  # the device itself: a udev link may be renamed under us
            try:
                ser = serial.Serial(real, self.config.baudrate, timeout=min(0.05, self.config.gap / 2))
            except (serial.SerialException, OSError) as exc:
                log.debug("scanner: cannot open %s: %s", path, exc)
                continue
            self._serial, self._path = ser, real
            log.info("scanner: opened %s (%s)", path, self._path)
            return True
        return False

    def _disconnect(self) -> None:
        self.connected.clear()
        ser, self._serial, self._path = self._serial, None, None
        if ser is not None:
            try:
                ser.close()
            except OSError:
                pass

    def _lost(self, exc: BaseException) -> None:
        log.warning("scanner: device lost (%s); will look for it again", exc)
        self.counters["disconnects"] += 1
        self._disconnect()
        self._handle(self._framer.reset())
        self._set_state(DeviceState.DISCONNECTED, str(exc))

    # -- reader thread ---------------------------------------------------------------
    def _run(self) -> None:
        serial = optional_import("serial")
        while not self._stop.is_set():
            ser = self._serial
            if ser is None:
                if self._connect():
                    self.reconnects += 1
                    self._set_state(DeviceState.OPEN, "reconnected")
                    self.connected.set()  # after the state: a waiter woken by it sees OPEN
                else:
                    self._stop.wait(self.config.reconnect_interval)
                continue
            try:
                data = ser.read(ser.in_waiting or 1)
            except (serial.SerialException, OSError, TypeError) as exc:
                # TypeError: pyserial's read on a port closed under it
                if not self._stop.is_set():
                    self._lost(exc)
                continue
            now = self._clock()
            self.counters["bytes"] += len(data)
            self._handle(self._framer.feed(data, now) if data else self._framer.poll(now))

    def _handle(self, items: Sequence[ScanFrame | Noise]) -> None:
        for item in items:
            if isinstance(item, Noise):
                self._drop(item.reason, repr(item.data[:64]))
                continue
            result = interpret(item.text, item.received, self.config.rules)
            if isinstance(result, ScanRejected) and result.reason == "bad_check_digit":
                # till.md §1: the till refuses it as bad_check_digit *to the cashier*
                # (a dropped scan looks like a scanner that did not beep right)
                self.counters["bad_check_digit"] += 1
                log.info("scanner: bad check digit, passed on for the till to refuse: %r",
                         result.payload[:64])
                result = ScanEvent(result.payload, ScanKind.TEXT, item.received, result.symbology)
            if isinstance(result, ScanRejected):
                self._drop(result.reason, repr(result.payload[:64]))
                continue
            self.counters["scans"] += 1
            try:
                self.events.put_nowait(result)
            except queue.Full:
                self._drop("queue_full", result.payload[:64])
                continue
            if self._on_event is not None:
                self._on_event(result)

    def _drop(self, reason: str, what: str) -> None:
        self.counters[f"dropped.{reason}"] += 1
        log.warning("scanner: dropped %s: %s", reason, what)
