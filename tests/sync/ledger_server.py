"""A real ledger (sync/ledger) under uvicorn in a subprocess, for integration tests and benchmarks.

The till talks to it over loopback TCP exactly as in a store. The ledger
database is a SQLite file or a uniquely named PostgreSQL database on
127.0.0.1:5432, created here and dropped on close.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"

SERVE = "import sys; from sync.ledger.cli import ledger; ledger(sys.argv[1:])"


def ledger_available() -> bool:
    """True when the ledger package with its app and CLI is importable."""
    try:
        import sync.ledger  # noqa: F401
        from sync.ledger.cli import ledger  # noqa: F401
    except Exception:
        return False
    return True


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=2):
            return True
    except Exception:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LedgerServer:
    """Create a ledger database, register a till, serve it; ``close`` tears all down."""

    def __init__(self, backend: str, workdir: Path, *, store: str = "KY-001", till: str = "KY-001-01",
                 members: list[dict[str, Any]] | None = None, customer_refresh_s: float = 0.0,
                 serve_args: tuple[str, ...] = ()) -> None:
        from sync.ledger import Ledger

        self.backend = backend
        self.pg_name: str | None = None
        if backend == "sqlite":
            self.url = f"sqlite:///{workdir / 'ledger.db'}"
        else:
            import psycopg

            self.pg_name = f"kopilka_tillsync_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.pg_name}"')
            self.url = f"postgresql://postgres@127.0.0.1:5432/{self.pg_name}"
        self.store, self.till = store, till
        self.customer_refresh_s = customer_refresh_s
        self.serve_args = serve_args  # more `ledger serve` options, e.g. ("--workers", "2")
        with Ledger(self.url) as led:
            self.key = led.add_till(store, till)
            led.import_bundle((ROOT / "examples" / "bundle.json").read_text(encoding="utf-8"))
            if members:
                led.import_members("\n".join(json.dumps(m) for m in members))
        self.port = free_port()
        self.log = open(workdir / f"ledger-{self.port}.log", "wb")
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, "serve", "--db", self.url, "--port", str(self.port),
             "--customer-refresh-s", str(self.customer_refresh_s), *self.serve_args],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=self.base_url, timeout=1.0) as c:
            while True:
                try:
                    if c.get("/v1/time").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"ledger did not start; see {self.log.name}")
                time.sleep(0.05)

    def kill(self) -> None:
        """``kill -9`` the server (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def ledger(self) -> Any:
        from sync.ledger import Ledger

        return Ledger(self.url)

    def close(self) -> None:
        self.kill()
        self.log.close()
        if self.pg_name is not None:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
