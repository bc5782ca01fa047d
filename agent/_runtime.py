"""Every side effect of the daemon goes through one ``Runtime`` object.

Clock, files, devices, network clients, the API server and signals: the
daemon asks the runtime for each, so a test replaces the runtime (a fixed
clock, a printer twin on a free port, a ledger on loopback) and the daemon
code stays the same. Signal handlers only put a name on the daemon's
inbox; all work happens in ``tick``.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any, Callable

from ._config import TillConfig
from ._errors import ConfigError

log = logging.getLogger(__name__)


class Runtime:
    """The real world: system clock, real files, real devices and sockets."""

    def __init__(self) -> None:
        self._installed: dict[int, Any] = {}

    # -- time ------------------------------------------------------------------
    def clock(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    # -- storage ----------------------------------------------------------------
    def open_db(self, config: TillConfig) -> Any:
        from sync import TillDb

        config.data_dir.mkdir(parents=True, exist_ok=True)
        return TillDb(config.db_path, clock=self.clock)

    def read_text(self, path: Any) -> str:
        with open(path, encoding="utf-8") as f:
            return f.read()

    def api_token(self, config: TillConfig) -> str:
        """The local API token from ``<data_dir>/api-token`` (made at first start, 0600)."""
        from ._security import load_or_create_token

        return load_or_create_token(config.data_dir)

    def seeded(self, config: TillConfig) -> bool:
        """True while the bundle in force came from the ``paths.bundle`` seed file."""
        from ._bootstrap import SEED_MARK

        return (config.data_dir / SEED_MARK).exists()

    def set_seeded(self, config: TillConfig, seeded: bool) -> None:
        from ._bootstrap import SEED_MARK

        mark = config.data_dir / SEED_MARK
        if seeded:
            mark.write_text("the bundle in force is the paths.bundle seed; replaced at the first ledger contact\n",
                            encoding="utf-8")
        else:
            mark.unlink(missing_ok=True)

    def read_keys(self, config: TillConfig) -> dict[str, Any] | None:
        from ._bootstrap import read_keys

        return read_keys(config.data_dir)

    def write_keys(self, config: TillConfig, jwks: dict[str, Any]) -> None:
        from ._bootstrap import write_keys

        write_keys(config.data_dir, jwks)

    # -- devices ----------------------------------------------------------------
    def scanner(self, config: TillConfig, on_event: Callable[[Any], None]) -> Any:
        if not config.scanner:
            return None
        from drivers import Scanner, ScannerConfig

        dev = Scanner(ScannerConfig(port=config.scanner, baudrate=config.scanner_baud, wait_for_device=True),
                      on_event=on_event)
        dev.open()
        return dev

    def camera(self, config: TillConfig, on_scan: Callable[[Any], None]) -> Any:
        if not config.camera:
            return None
        from drivers import Camera

        cam = Camera(config.camera)
        cam.open()
        cam.arm()
        cam.start(on_scan)
        return cam

    # (the daemon arms the camera while a sale wants a customer, disarms after)

    def printer(self, config: TillConfig) -> Any:
        if not config.printer:
            return None
        from drivers import Printer

        if not Printer.is_usable():  # asked for by the config: fail at start, never degrade
            missing = ", ".join(Printer.requires)
            raise ConfigError("printer_unavailable", f"printer = {config.printer!r} needs the "
                              f"python library {missing}, which is not installed", field="printer")
        from ._printing import DriversPrinter

        return DriversPrinter(config.printer, config.printer_encoding)

    # -- network -----------------------------------------------------------------
    def hold_client(self, config: TillConfig) -> Any:
        if not config.ledger_url or not config.ledger_key:
            return None
        from sync import HoldClient

        return HoldClient(base_url=config.ledger_url, key=config.ledger_key, till=config.till,
                          budget_s=config.hold_budget_ms / 1000)

    def ledger_bundle(self, config: TillConfig) -> tuple[int, dict[str, Any]]:
        """The ledger's whole newest bundle; raises ``BootstrapFailed``."""
        from ._bootstrap import fetch_bundle
        from ._errors import BootstrapFailed

        if not config.ledger_url or not config.ledger_key:
            raise BootstrapFailed("not_configured", "no [ledger] url and key")
        return fetch_bundle(config.ledger_url, config.ledger_key, timeout=config.bootstrap_timeout_s)

    def ledger_keys(self, config: TillConfig) -> dict[str, Any]:
        """The ledger's current token JWKS; raises ``BootstrapFailed``."""
        from ._bootstrap import fetch_keys
        from ._errors import BootstrapFailed

        if not config.ledger_url:
            raise BootstrapFailed("not_configured", "no [ledger] url")
        return fetch_keys(config.ledger_url)

    def uploader(self, outbox: Any, config: TillConfig, **kw: Any) -> Any:
        if not config.ledger_url or not config.ledger_key:
            return None
        from sync import Uploader

        return Uploader(outbox, base_url=config.ledger_url, key=config.ledger_key, **kw)

    def puller(self, cache: Any, config: TillConfig, on_engine: Callable[[Any, int], None]) -> Any:
        if not config.ledger_url or not config.ledger_key:
            return None
        from sync import BundlePuller

        return BundlePuller(cache, base_url=config.ledger_url, key=config.ledger_key, on_engine=on_engine)

    def serve(self, app: Any, host: str, port: int) -> "ApiServer":
        return ApiServer(app, host, port).start()

    # -- signals -------------------------------------------------------------------
    def install_signals(self, enqueue: Callable[[str], None]) -> None:
        """SIGTERM/SIGINT ask for a clean stop, SIGHUP for a bundle reload."""
        if threading.current_thread() is not threading.main_thread():
            return
        def asking(name: str) -> Callable[[int, Any], None]:
            return lambda _sig, _frame: enqueue(name)

        for sig, name in ((signal.SIGTERM, "stop"), (signal.SIGINT, "stop"), (signal.SIGHUP, "reload")):
            self._installed[sig] = signal.signal(sig, asking(name))

    def restore_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # installed only from the main thread; restored there too
        for sig, old in self._installed.items():
            signal.signal(sig, old)
        self._installed.clear()


class ApiServer:
    """uvicorn in a thread, on a port that may be 0 (chosen by the OS)."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        import uvicorn

        self.config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                                     lifespan="off", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(self.config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.run, name="agent-api", daemon=True)
        self.host, self.port = host, port

    def start(self, timeout: float = 10.0) -> "ApiServer":
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"local API did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        sock = self.server.servers[0].sockets[0]
        self.port = sock.getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
