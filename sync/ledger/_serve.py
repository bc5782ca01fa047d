"""``kopilka ledger serve``: one process, or N worker processes on one listening socket.

Why processes: a request spends most of its time in Python (parsing,
validation, the engine's audit), which one process runs on one core. The
parent migrates the schema once, opens the listening socket, and starts N
workers (``spawn``: nothing of the parent's state is inherited but the
socket). Each worker opens its own ``Ledger`` (its own connections or
pool, its own audit worker) and runs uvicorn on the shared socket; the
kernel hands each new connection to one of them.

Within a worker, the uploads and heartbeats of concurrent requests share
their commits (``_group``: one durable commit per group of requests).
Exactly-once does not depend on which worker takes a request: ingest's
claim step is a database constraint (``till_seqs``), SQLite serialises
writers with ``BEGIN IMMEDIATE`` under a busy timeout (WAL), PostgreSQL
with row locks; the same rules already hold for several ``serve``
processes on one database (tests/sync/ledger/test_races.py).

The parent supervises: a worker that dies is started again; SIGTERM or
SIGINT stops every worker (each finishes its requests) and then the
parent. A worker whose parent is gone (``kill -9``) stops by itself.
"""
from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
from typing import Any

from ._errors import LedgerError

log = logging.getLogger(__name__)

#: seconds a worker is given to finish its requests on stop
STOP_GRACE_S = 30.0


def _run_one(ledger_args: dict[str, Any], log_level: str, *, host: str = "127.0.0.1",
             port: int = 8400, sock: socket.socket | None = None) -> None:
    import uvicorn

    from ._app import make_app
    from ._ledger import Ledger
    from ._logs import setup

    log_config = setup(log_level)  # card numbers masked in every line, access log included
    with Ledger(**ledger_args) as led:
        led.start_auditor()  # re-prices uploaded sales after their acknowledgement
        config = uvicorn.Config(make_app(led), host=host, port=port, log_level=log_level,
                                log_config=log_config)
        server = uvicorn.Server(config)
        server.run(sockets=[sock] if sock is not None else None)
    if not server.started:  # the port was taken, say: fail as uvicorn.run does
        raise SystemExit(3)


def _orphan_guard(parent: int) -> None:
    """Stop this worker when its parent is gone (killed without a chance to stop us)."""
    try:  # Linux: the kernel sends SIGTERM when the parent dies
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="orphan-guard", daemon=True).start()


def _worker(sock: socket.socket, ledger_args: dict[str, Any], log_level: str,
            parent: int) -> None:
    _orphan_guard(parent)
    _run_one(ledger_args, log_level, sock=sock)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(db_url: str, *, host: str = "127.0.0.1", port: int = 8400,
          log_level: str = "warning", workers: int = 1, per_sale_commit: bool = False,
          customer_refresh_s: float = 1.0) -> None:
    """Serve the ledger HTTP API with ``workers`` processes (1: in this process)."""
    ledger_args = {"url": db_url, "per_sale_commit": per_sale_commit,
                   "customer_refresh_s": customer_refresh_s}
    if workers <= 1:
        _run_one(ledger_args, log_level, host=host, port=port)
        return
    from ._ledger import Ledger

    with Ledger(db_url):  # migrate once, before the workers open it
        pass
    try:
        sock = _listen(host, port)
    except OSError as exc:
        raise LedgerError("cannot_listen", f"cannot listen on {host}:{port}: {exc}") from exc
    ctx = multiprocessing.get_context("spawn")
    stopping = threading.Event()

    def start() -> Any:
        proc = ctx.Process(target=_worker, args=(sock, ledger_args, log_level, os.getpid()),
                           name="kopilka-ledger-worker", daemon=False)
        proc.start()
        return proc

    def stop(_signum: int, _frame: Any) -> None:
        stopping.set()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    procs = [start() for _ in range(workers)]
    logging.getLogger("uvicorn.error").info("ledger serving on %s:%d with %d workers",
                                           host, port, workers)
    try:
        while not stopping.is_set():
            multiprocessing.connection.wait([p.sentinel for p in procs], timeout=0.5)
            for i, p in enumerate(procs):
                if not p.is_alive() and not stopping.is_set():
                    log.error("ledger worker %d exited with %s; starting another", p.pid,
                              p.exitcode)
                    procs[i] = start()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()  # uvicorn finishes its requests, then the Ledger closes
        for p in procs:
            p.join(STOP_GRACE_S)
            if p.is_alive():
                p.kill()
                p.join()
        sock.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
