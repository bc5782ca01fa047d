"""The till daemon: wires devices, engine, outbox, sync and the local API.

One inbox, one thread doing the work: device threads and signal handlers
only enqueue; ``tick(now)`` drains the inbox and runs the timers (reprint,
bundle pull). ``run()`` loops on it until a stop arrives; ``run(once=True)``
does one round (store IT checks, tests). Sync runs beside it in the
uploader's own thread and never blocks a sale.
"""
from __future__ import annotations

import enum
import logging
import queue
import threading
from typing import Any

from ._api import create_app
from ._bundles import BundleKeeper, freeze_heap
from ._config import TillConfig
from ._errors import AgentError
from ._events import EventBus
from ._ledger import HoldClientLedger
from ._runtime import Runtime
from ._till import Till
from ._token import message_for

log = logging.getLogger(__name__)

AGENT_VERSION = "kopilka-agent/1"


class AgentState(str, enum.Enum):
    """The daemon's life; transitions are logged."""

    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class Agent:
    """One till's daemon. ``start()``, then ``tick(now)`` or ``run()``, then ``stop()``."""

    def __init__(self, config: TillConfig, runtime: Runtime | None = None, *,
                 print_retry_s: float = 10.0, pull_every_s: float = 60.0, serve_api: bool = True) -> None:
        self.config = config
        self.runtime = runtime or Runtime()
        self.inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.events = EventBus()
        self.state = AgentState.NEW
        self.print_retry_s = print_retry_s
        self.pull_every_s = pull_every_s
        self.serve_api = serve_api
        self.closing = threading.Event()
        self.till: Till | None = None
        self.db: Any = None
        self.cache: Any = None
        self.uploader: Any = None
        self.puller: Any = None
        self.hold_client: Any = None
        self.scanner: Any = None
        self.camera: Any = None
        self.api: Any = None
        self.api_token: str | None = None
        self.fetched_keys: dict[str, Any] | None = None
        self._next_print = 0.0
        self._next_pull = 0.0
        self.pulling = threading.Event()
        self.pull_done = threading.Event()
        self.bundles = BundleKeeper(self)

    def _set(self, state: AgentState) -> None:
        log.info("agent %s: %s -> %s", self.config.till, self.state.value, state.value)
        self.state = state

    # ---------------------------------------------------------------- start/stop

    def start(self) -> "Agent":
        from sync import PromoCache

        cfg, rt = self.config, self.runtime
        printer = rt.printer(cfg)  # a printer the config asks for and cannot have: refuse before anything opens
        self.db = rt.open_db(cfg)
        self.api_token = rt.api_token(cfg)
        self.cache = PromoCache(self.db)
        if self.cache.version is None:
            try:
                self.bundles.first_bundle()
            except Exception:
                self.db.close()  # refused to start: leave nothing open
                self.db = None
                raise
        self.fetched_keys = rt.read_keys(cfg)
        catalog = self.bundles.catalog(self.cache.engine)
        freeze_heap()
        self.hold_client = rt.hold_client(cfg)
        ledger = HoldClientLedger(self.hold_client) if self.hold_client is not None else None
        self.till = Till(self.db, catalog, till=cfg.till, store=cfg.store, program=cfg.program,
                         ledger=ledger, printer=printer, events=self.events, clock=rt.clock,
                         hold_budget_s=cfg.hold_budget_ms / 1000, language=cfg.language, hints=cfg.hints)
        self.scanner = rt.scanner(cfg, lambda ev: self.inbox.put(("scan", ev)))
        self.camera = rt.camera(cfg, lambda sc: self.inbox.put(("camera", sc)))
        self.uploader = rt.uploader(self.till.outbox, cfg, agent_version=AGENT_VERSION,
                                    bundle_version=lambda: self.cache.version, hardware=self.hardware,
                                    poll_every_s=cfg.sync_interval_s)
        if self.uploader is not None:
            self.uploader.start()
        self.puller = rt.puller(self.cache, cfg, self.bundles.swap_engine)
        rt.install_signals(lambda name: self.inbox.put(("signal", name)))
        if self.serve_api:
            app = create_app(self.till, self.status, self.closing,
                             self.sync_now if self.uploader is not None else None,
                             token=self.api_token, language=cfg.language)
            self.api = rt.serve(app, cfg.api_host, cfg.api_port)
            log.info("local API on %s", self.api.url)
        self._set(AgentState.RUNNING)
        return self

    def stop(self) -> None:
        """Clean shutdown: the open sale stays journaled for the next start."""
        if self.state in (AgentState.STOPPED, AgentState.NEW) and self.db is None:
            return
        self._set(AgentState.STOPPING)
        self.closing.set()
        for part in ("api", "scanner", "camera"):
            dev = getattr(self, part)
            if dev is not None:
                try:
                    dev.stop() if part in ("api", "camera") else dev.close()
                    if part == "camera":
                        dev.close()
                except Exception:  # pragma: no cover - a broken device must not block shutdown
                    log.exception("closing %s failed", part)
                setattr(self, part, None)
        if self.pulling.is_set():
            self.pull_done.wait(30)  # the puller's own timeout bounds this
        for part in ("uploader", "puller", "hold_client"):
            obj = getattr(self, part)
            if obj is not None:
                obj.close()
                setattr(self, part, None)
        printer = getattr(self.till, "printer", None)
        if printer is not None and hasattr(printer, "close"):
            printer.close()
        self.runtime.restore_signals()
        if self.db is not None:
            self.db.close()
            self.db = None
        self._set(AgentState.STOPPED)

    def __enter__(self) -> "Agent":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- the loop

    def tick(self, now: float) -> int:
        """Handle everything queued, then the timers due at ``now``; returns items handled."""
        handled = 0
        while True:
            try:
                kind, item = self.inbox.get_nowait()
            except queue.Empty:
                break
            handled += 1
            self._handle(kind, item)
        assert self.till is not None
        self._arm_camera()
        if now >= self._next_print:
            self._next_print = now + self.print_retry_s
            if self.till.print_queue():
                self.till.print_pending()
        if self.puller is not None and now >= self._next_pull and not self.pulling.is_set():
            # Never on this thread: a pull may wait on the network for seconds.
            self._next_pull = now + self.pull_every_s
            self.pulling.set()
            self.pull_done.clear()
            threading.Thread(target=self.bundles.pull, name="bundle-pull", daemon=True).start()
        return handled

    def run(self, once: bool = False) -> None:
        """Run until SIGTERM/SIGINT (or one round with ``once``)."""
        if self.state is AgentState.NEW:
            self.start()
        try:
            self.tick(self.runtime.clock())
            while not once and self.state is AgentState.RUNNING:
                try:
                    kind, item = self.inbox.get(timeout=1.0)
                    self._handle(kind, item)
                except queue.Empty:
                    pass
                self.tick(self.runtime.clock())
        finally:
            self.stop()

    def _handle(self, kind: str, item: Any) -> None:
        if kind == "signal":
            log.info("signal: %s", item)
            if item == "stop":
                self._set(AgentState.STOPPING)
            elif item == "reload" and self.puller is not None:
                self._next_pull = 0.0
            return
        assert self.till is not None
        code = getattr(item, "payload", item)
        source = "scanner" if kind == "scan" else "camera"
        self.events.publish(source, code="<customer code>" if kind == "camera" else _safe(code))
        try:
            self.handle_code(code, source, item)
        except AgentError as exc:
            words = message_for(exc.reason) if exc.reason in _TOKEN_REASONS else exc.message
            log.warning("%s code refused: %s", source, exc.reason)
            self.events.publish("error", source=source, reason=exc.reason, message=words)
        except Exception:  # one bad event must not take the till down
            log.exception("%s event failed", source)
            self.events.publish("error", source=source, reason="internal",
                                message="Something went wrong with that scan; scan again.")

    def handle_code(self, code: str, source: str, event: Any = None) -> None:
        """A code from the scanner or the camera: an item, or the customer."""
        till = self.till
        assert till is not None
        # till.md §1: the till routes every code (receipt, item, scale label,
        # coupon, card or token) in one place, whatever device read it.
        routed, _ = till.scan(None, code)
        if routed.kind == "receipt":
            return
        self._arm_camera()

    def _arm_camera(self) -> None:
        """The camera decodes only while the open sale still wants a customer."""
        cam, till = self.camera, self.till
        if cam is None or till is None:
            return
        s = till.current()
        want = s is None or s.customer is None
        if want and not cam.armed:
            cam.arm()
        elif not want and cam.armed:
            cam.disarm()

    # ---------------------------------------------------------------- status

    def sync_now(self) -> dict[str, Any]:
        """Drain the queue now (the local API's /v1/sync/now)."""
        from dataclasses import asdict

        assert self.uploader is not None
        log.info("sync now: draining %d queued", self.uploader.outbox.status().queue_depth)
        report = asdict(self.uploader.sync_now())
        log.info("sync now: %s", report)
        return report

    def hardware(self) -> dict[str, str]:
        out = {}
        for name in ("scanner", "camera"):
            dev = getattr(self, name)
            out[name] = "absent" if dev is None else getattr(dev.state, "value", str(dev.state))
        printer = getattr(self.till, "printer", None)
        if not self.config.printer:
            out["printer"] = "absent"
        else:
            state = getattr(printer, "state", None)
            out["printer"] = getattr(state, "value", None) or "idle"
            queued = self.till.print_queue() if self.till is not None and self.db is not None else 0
            if queued:
                out["printer"] += f", {queued} receipt(s) waiting"
        return out

    def status(self) -> dict[str, Any]:
        assert self.till is not None
        doc = self.till.status()
        doc["agent_version"] = AGENT_VERSION
        doc["hardware"] = self.hardware()
        doc["state"] = self.state.value
        if self.uploader is not None:
            up = self.uploader.status()
            c = up["counters"]
            doc["last_sync_at"] = c.get("last_success_at")
            doc["last_sync_error"] = c.get("last_error")
            doc["ledger"] = "online" if c.get("last_success_at") and not c.get("last_error") else "offline"
            doc["retry_in_s"] = up.get("retry_in_s")
        else:
            doc["ledger"] = "not configured"
        return doc


_TOKEN_REASONS = {"malformed", "bad_check_digit", "unknown_key", "bad_signature", "wrong_program",
                  "not_yet_valid", "expired", "replayed"}


def _safe(code: str) -> str:
    from fastcore import scrub

    return scrub(code)
