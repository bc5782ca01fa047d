"""A faulty network between the till and the ledger: a chaos TCP proxy.

Why: "lose nothing, double nothing whatever the network does" is only
believable when tested against the network doing its worst. The proxy sits
on 127.0.0.1 in front of a real server and, on command, passes traffic,
delays it, drops connections, resets them in the middle of the response
(the server has committed, the client never hears), answers ``503`` with
``Retry-After`` itself, or swallows everything (black hole). Switching the
mode closes the connections already open, so the new behaviour applies to
the very next request even on keep-alive clients.
"""
from __future__ import annotations

import enum
import logging
import socket
import struct
import threading
import time
from collections import Counter

log = logging.getLogger(__name__)

_CHUNK = 65536


class ChaosMode(str, enum.Enum):
    """What the proxy does to each new connection."""

    PASS = "pass"
    DELAY = "delay"
    DROP = "drop"
    RESET = "reset"
    ERROR_503 = "503"
    BLACKHOLE = "blackhole"


def _rst_close(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN (SO_LINGER 0)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class ChaosProxy:
    """A threaded TCP proxy on 127.0.0.1 whose ``mode`` can change at any time."""

    def __init__(
        self,
        target: tuple[str, int],
        *,
        listen_port: int = 0,
        mode: ChaosMode | str = ChaosMode.PASS,
        delay_s: float = 0.2,
        retry_after_s: int = 1,
        reset_after_bytes: int = 1,
    ) -> None:
        self.target = target
        self.delay_s = delay_s
        self.retry_after_s = retry_after_s
        self.reset_after_bytes = reset_after_bytes
        self._mode = ChaosMode(mode)
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", listen_port))
        self._listener.listen(128)
        self._listener.settimeout(0.05)
        self._accept_thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the proxy listens on."""
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` for an HTTP client."""
        return f"http://127.0.0.1:{self.address[1]}"

    @property
    def mode(self) -> ChaosMode:
        """The current mode."""
        return self._mode

    @mode.setter
    def mode(self, mode: ChaosMode | str) -> None:
        self.set_mode(mode)

    def set_mode(self, mode: ChaosMode | str) -> None:
        """Switch mode; connections already open are cut so it applies at once."""
        new = ChaosMode(mode)
        with self._lock:
            self._mode = new
        self._cut_all()
        log.info("chaos proxy %s: mode %s", self.address, new.value)

    def _cut_all(self) -> None:
        """Shut down every open connection (both directions)."""
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> ChaosProxy:
        """Start accepting in a background thread; returns self."""
        self._accept_thread = threading.Thread(target=self._accept_loop, name="chaos-accept", daemon=True)
        self._accept_thread.start()
        return self

    def close(self) -> None:
        """Stop accepting, cut every connection and join every thread."""
        self._stop.set()
        if self._accept_thread is not None:
            self._accept_thread.join()
            self._accept_thread = None
        self._listener.close()
        self._cut_all()
        while True:
            with self._lock:
                threads = list(self._threads)
            if not threads:
                break
            for t in threads:
                t.join()

    def __enter__(self) -> ChaosProxy:
        return self.start() if self._accept_thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def serve_forever(self) -> None:
        """Run in the calling thread until ``close`` (the CLI)."""
        self._accept_loop()

    # -- plumbing ----------------------------------------------------------------

    def _track(self, *socks: socket.socket) -> None:
        with self._lock:
            self._socks.update(socks)

    def _untrack_close(self, sock: socket.socket, rst: bool = False) -> None:
        with self._lock:
            self._socks.discard(sock)
        if rst:
            _rst_close(sock)
        else:
            sock.close()

    def _spawn(self, target: object, *args: object) -> None:
        def run() -> None:
            try:
                target(*args)  # type: ignore[operator]
            except OSError:
                pass
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        t = threading.Thread(target=run, name="chaos-conn", daemon=True)
        with self._lock:
            self._threads.add(t)
        t.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            client.settimeout(None)
            mode = self._mode
            self.counts[mode.value] += 1
            self._track(client)
            self._spawn(self._handle, client, mode)

    def _handle(self, client: socket.socket, mode: ChaosMode) -> None:
        if mode is ChaosMode.DROP:
            self._untrack_close(client)
        elif mode is ChaosMode.BLACKHOLE:
            try:
                while client.recv(_CHUNK):
                    pass
            except OSError:
                pass
            self._untrack_close(client)
        elif mode is ChaosMode.ERROR_503:
            self._answer_503(client)
        else:
            self._relay(client, mode)

    def _answer_503(self, client: socket.socket) -> None:
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = client.recv(_CHUNK)
                if not chunk:
                    raise OSError("client went away")
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or 0)
            while len(body) < length:
                chunk = client.recv(_CHUNK)
                if not chunk:
                    break
                body += chunk
            payload = b'{"error": "unavailable", "detail": "chaos proxy"}'
            client.sendall(
                b"HTTP/1.1 503 Service Unavailable\r\n"
                + f"Retry-After: {self.retry_after_s}\r\n".encode()
                + b"Content-Type: application/json\r\n"
                + f"Content-Length: {len(payload)}\r\n".encode()
                + b"Connection: close\r\n\r\n" + payload
            )
        except (OSError, ValueError):
            pass
        finally:
            self._untrack_close(client)

    def _relay(self, client: socket.socket, mode: ChaosMode) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            self._untrack_close(client, rst=True)
            return
        upstream.settimeout(None)
        self._track(upstream)
        done = threading.Event()

        def up() -> None:
            try:
                while True:
                    chunk = client.recv(_CHUNK)
                    if not chunk:
                        break
                    if mode is ChaosMode.DELAY:
                        time.sleep(self.delay_s)  # the fault being simulated
                    upstream.sendall(chunk)
                upstream.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            done.wait()

        self._spawn(up)
        try:
            while True:
                chunk = upstream.recv(_CHUNK)
                if not chunk:
                    break
                if mode is ChaosMode.DELAY:
                    time.sleep(self.delay_s)
                if mode is ChaosMode.RESET:
                    client.sendall(chunk[: self.reset_after_bytes])
                    self.counts["resets"] += 1
                    break
                client.sendall(chunk)
        except OSError:
            pass
        finally:
            rst = mode is ChaosMode.RESET
            try:
                # SHUT_RD wakes the other pump without sending a FIN; the RST
                # (linger 0) goes out on close.
                client.shutdown(socket.SHUT_RD if rst else socket.SHUT_RDWR)
            except OSError:
                pass
            self._untrack_close(client, rst=rst)
            try:
                upstream.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._untrack_close(upstream)
            done.set()
