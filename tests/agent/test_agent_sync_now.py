"""``kopilka sync now`` says what is left and exits non-zero whenever the
drain did not finish: the agent killed mid-drain, or the ledger down."""
from __future__ import annotations

import http.server
import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from agent import Catalog, Till
from agent.cli import sync_group
from sync import TillDb

ROOT = Path(__file__).resolve().parents[2]
MILK = "4607000000014"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def till_with_sales(tmp: Path, bundle_doc: dict[str, Any], ledger_url: str, n: int = 3) -> Path:
    (tmp / "bundle.json").write_text(json.dumps(bundle_doc), encoding="utf-8")
    cfg = tmp / "till.toml"
    cfg.write_text('[till]\nid = "KY-001-01"\nstore = "KY-001"\nprogram = "kopilka"\n'
                   '[paths]\ndata_dir = "data"\nbundle = "bundle.json"\n'
                   f'[ledger]\nurl = "{ledger_url}"\nkey = "till-key"\nbootstrap_timeout_s = 5\n'
                   f'[api]\nport = {free_port()}\n', encoding="utf-8")
    (tmp / "data").mkdir()
    db = TillDb(tmp / "data" / "till.sqlite3")
    till = Till(db, Catalog(bundle_doc), till="KY-001-01", store="KY-001", program="kopilka")
    for _ in range(n):
        s = till.open_session()
        till.add_line(s.id, MILK)
        till.pay(s.id)
    db.close()
    return cfg


class StallingLedger:
    """A ledger that takes uploads and never answers them (until released)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.uploads = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, status: int, doc: dict[str, Any]) -> None:
                raw = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(404, {"error": "no_bundle", "detail": "nothing imported"})

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/v1/transactions"):
                    owner.uploads += 1
                    owner.release.wait(60)
                    self._answer(503, {"error": "unavailable"})
                else:
                    self._answer(200, {})

            def log_message(self, *args: Any) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # the agent was killed: its connections break, as they should

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _lines(stream: Any, out: "queue.Queue[str]") -> None:
    for line in stream:
        out.put(line)
    out.put("")


def _wait_for(lines: "queue.Queue[str]", text: str, timeout: float = 30) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"{text!r} never came:\n" + "".join(seen))


def test_sync_now_fails_and_says_what_is_left_when_the_agent_dies_mid_drain(tmp_path: Path, bundle_doc) -> None:
    ledger = StallingLedger()
    cfg = till_with_sales(tmp_path, bundle_doc, ledger.url)
    agent = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "agent", "run", "--config", str(cfg)],
                             cwd=ROOT, stderr=subprocess.PIPE, text=True)
    cli = None
    try:
        assert agent.stderr is not None
        agent_lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=_lines, args=(agent.stderr, agent_lines), daemon=True)
        reader.start()
        _wait_for(agent_lines, "cashier screen at")
        cli = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "sync", "now", "--config", str(cfg)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_for(agent_lines, "sync now: draining")  # the agent is inside the drain the CLI asked for
        agent.send_signal(signal.SIGKILL)
        agent.wait(20)
        reader.join(20)  # EOF once the agent is gone
        out, err = cli.communicate(timeout=60)
    finally:
        for proc in (agent, cli):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        if agent.stderr is not None:
            agent.stderr.close()
        ledger.close()
    assert cli.returncode == 1, out + err
    assert "not finished: the agent stopped answering during the drain" in err
    assert "3 sale(s) still queued" in err and "Traceback" not in err
    assert "? left" not in out


def test_sync_now_fails_and_says_why_when_the_ledger_is_down(tmp_path: Path, bundle_doc) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    cfg = till_with_sales(tmp_path, bundle_doc, dead, n=2)
    res = CliRunner().invoke(sync_group, ["now", "--config", str(cfg)])
    assert res.exit_code == 1, res.output
    assert "2 left" in res.output
    assert "not finished: 2 sale(s) still queued because the ledger did not take them" in res.output


def test_sync_now_refused_by_the_agent_says_so_and_fails(tmp_path: Path, bundle_doc) -> None:
    from agent import Agent, load_config

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    cfg_path = till_with_sales(tmp_path, bundle_doc, dead, n=1)
    agent = Agent(load_config(cfg_path), pull_every_s=3600).start()
    try:
        (tmp_path / "data" / "api-token").write_text("x" * 43 + "\n")  # not the token the agent holds
        res = CliRunner().invoke(sync_group, ["now", "--config", str(cfg_path)])
    finally:
        agent.stop()
    assert res.exit_code == 1, res.output
    assert "the agent refused the drain (HTTP 401 bad_token" in res.output and "1 sale(s) still queued" in res.output
