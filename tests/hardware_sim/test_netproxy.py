"""Every chaos mode of the proxy, with a real (plain socket) HTTP server behind it."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from hardware_sim import ChaosMode, ChaosProxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.bodies.append(body)  # type: ignore[attr-defined]
        payload = b"ok:" + body + b"." * 5000
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.bodies = []  # type: ignore[attr-defined]
    t = threading.Thread(target=srv.serve_forever)
    t.start()
    yield srv
    srv.shutdown()
    t.join()
    srv.server_close()


@pytest.fixture
def proxy(server: ThreadingHTTPServer) -> Iterator[ChaosProxy]:
    with ChaosProxy(server.server_address[:2], delay_s=0.3, retry_after_s=4) as p:
        yield p


def post(proxy: ChaosProxy, body: bytes = b"hello", timeout: float = 2.0) -> httpx.Response:
    with httpx.Client(base_url=proxy.url, timeout=timeout) as c:
        return c.post("/x", content=body)


def test_pass_mode_relays_both_ways(proxy: ChaosProxy, server: ThreadingHTTPServer) -> None:
    resp = post(proxy, b"x" * 200_000)
    assert resp.status_code == 200 and resp.content.startswith(b"ok:" + b"x" * 1000)
    assert server.bodies == [b"x" * 200_000]  # type: ignore[attr-defined]


def test_delay_mode_delays_but_delivers(proxy: ChaosProxy) -> None:
    proxy.mode = ChaosMode.DELAY
    t0 = time.monotonic()
    resp = post(proxy)
    assert resp.status_code == 200
    assert time.monotonic() - t0 >= 0.6  # at least one delayed chunk each way


def test_drop_mode_closes_without_an_answer(proxy: ChaosProxy, server: ThreadingHTTPServer) -> None:
    proxy.mode = "drop"
    with pytest.raises(httpx.TransportError):
        post(proxy)
    assert server.bodies == []  # type: ignore[attr-defined]


def test_reset_mode_resets_after_the_server_has_the_request(proxy: ChaosProxy,
                                                            server: ThreadingHTTPServer) -> None:
    proxy.mode = ChaosMode.RESET
    with pytest.raises(httpx.TransportError):
        post(proxy, b"committed")
    assert server.bodies == [b"committed"]  # type: ignore[attr-defined]
    assert proxy.counts["resets"] == 1


def test_503_mode_answers_itself_with_retry_after(proxy: ChaosProxy, server: ThreadingHTTPServer) -> None:
    proxy.mode = ChaosMode.ERROR_503
    resp = post(proxy, b"y" * 100_000)
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "4"
    assert resp.json()["error"] == "unavailable"
    assert server.bodies == []  # type: ignore[attr-defined]


def test_blackhole_mode_never_answers(proxy: ChaosProxy, server: ThreadingHTTPServer) -> None:
    proxy.mode = ChaosMode.BLACKHOLE
    with pytest.raises(httpx.ReadTimeout):
        post(proxy, timeout=0.3)
    assert server.bodies == []  # type: ignore[attr-defined]


def test_switching_mode_cuts_open_keep_alive_connections(proxy: ChaosProxy) -> None:
    with httpx.Client(base_url=proxy.url, timeout=2.0) as c:
        assert c.post("/x", content=b"1").status_code == 200
        proxy.mode = ChaosMode.ERROR_503
        # The pooled connection was cut; the client reconnects and meets the new mode.
        try:
            resp = c.post("/x", content=b"2")
        except httpx.TransportError:
            resp = c.post("/x", content=b"2")
        assert resp.status_code == 503
        proxy.mode = ChaosMode.PASS
        try:
            resp = c.post("/x", content=b"3")
        except httpx.TransportError:
            resp = c.post("/x", content=b"3")
        assert resp.status_code == 200
    assert proxy.counts["pass"] >= 2 and proxy.counts["503"] >= 1


def test_an_unreachable_target_is_a_reset_connection() -> None:
    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        target = dead.getsockname()
    with ChaosProxy(target) as p:
        with pytest.raises(httpx.TransportError):
            post(p)


def test_bad_modes_are_refused(proxy: ChaosProxy) -> None:
    with pytest.raises(ValueError):
        proxy.mode = "lossy"


def test_cli_help_names_every_mode() -> None:
    from click.testing import CliRunner

    from hardware_sim.cli import sim

    result = CliRunner().invoke(sim, ["chaos", "--help"])
    assert result.exit_code == 0
    assert "Example: kopilka sim chaos" in result.output
    result = CliRunner().invoke(sim, ["chaos", "--listen", "0", "--target", "nope"])
    assert result.exit_code == 2 and "HOST:PORT" in result.output


def test_cli_runs_the_proxy_and_switches_mode_from_stdin(server: ThreadingHTTPServer) -> None:
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    host, port = server.server_address[:2]
    proc = subprocess.Popen(
        [sys.executable, str(root / "cli.py"), "sim", "chaos", "--listen", "0", "--target", f"{host}:{port}"],
        stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root,
    )
    assert proc.stdin is not None and proc.stderr is not None
    try:
        line = ""
        while "chaos proxy" not in line:
            line = proc.stderr.readline()
            assert line, "the proxy exited early"
        url = line.split()[2]
        with httpx.Client(base_url=url, timeout=2.0) as c:
            assert c.post("/x", content=b"a").status_code == 200
        proc.stdin.write("503\n")
        proc.stdin.flush()
        while "mode 503" not in line:
            line = proc.stderr.readline()
        with httpx.Client(base_url=url, timeout=2.0) as c:
            assert c.post("/x", content=b"a").status_code == 503
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        proc.stdin.close()
        proc.stderr.close()
    assert proc.returncode in (0, 1)
