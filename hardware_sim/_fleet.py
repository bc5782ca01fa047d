"""A fleet of lightweight tills selling through a running ledger (``kopilka sim fleet``).

``run_fleet`` registers the fleet in the ledger database with the ledger's
own operations (``Ledger.import_bundle``, ``import_members``, ``add_till``,
``add_key``: what ``kopilka ledger import|members import|till add|app-key
add`` run), then sells through the ledger's HTTP service in compressed
time and waits until every till has drained its outbox.

Why a pool and not a thread per till: a chain is 15,000 tills. A few seller
threads walk the tills' plans in simulated time order; a pool of upload
workers calls each till's real ``Uploader`` (``sync_now``: its batching,
backoff and answer recording) whenever the till has something to send and
is online, and sends its heartbeats. All tills share one HTTP connection
pool, as many tills behind one store router would not, but a simulator on
one machine must.
"""
from __future__ import annotations

import heapq
import itertools
import json
import logging
import queue
import resource
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import fastcore

from ._fleet_plan import FleetConfig, Offline, Online, Plan, Return, Sale, make_plan
from ._fleet_till import Shared, SimTill, TillCounters

log = logging.getLogger(__name__)

#: ``progress(simulated seconds done, simulated seconds in all, sales so far)``
Progress = Callable[[float, float, int], None]


@dataclass
class FleetResult:
    """What a fleet run did, and where its tills' databases are."""

    config: FleetConfig
    work_dir: Path
    ledger_url: str
    db_url: str
    bundle_version: int
    tills: list[str]
    stores: list[str]
    accounts: list[str]
    counters: TillCounters
    uploaded: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    pending: int = 0
    batches: int = 0
    retries: int = 0
    heartbeats: int = 0
    errors: int = 0
    upload_ms: list[float] = field(default_factory=list, repr=False)
    request_ms: list[float] = field(default_factory=list, repr=False)
    sell_s: float = 0.0
    drain_s: float = 0.0

    @property
    def wall_s(self) -> float:
        return self.sell_s + self.drain_s

    @property
    def drained(self) -> bool:
        return self.pending == 0

    def till_dbs(self) -> list[Path]:
        """Each till's SQLite database (its outbox), in till order."""
        return [self.work_dir / f"{t}.db" for t in self.tills]

    def transactions(self) -> Iterator[dict[str, Any]]:
        """Every TXN the tills committed, as sent, with its outbox ``_status``, till by till."""
        for path in self.till_dbs():
            yield from outbox_rows(path)

    def rows(self) -> list[tuple[str, str]]:
        """The summary, as (what, figure) rows."""
        c = self.counters
        cu = sorted(c.catch_up_s)
        rate = self.uploaded / self.wall_s if self.wall_s else 0.0
        return [
            ("fleet", f"{len(self.stores)} stores x {self.config.tills} tills, "
                      f"{len(self.accounts)} members, {self.config.days} days"),
            ("sales", f"{c.sales:,} ({c.member_sales:,} to members: {c.qr_sales:,} QR, "
                      f"{c.card_sales:,} card; {c.redemptions:,} redeemed points)"),
            ("returns", f"{c.returns:,}"),
            ("sold offline", f"{c.offline_sales:,}"),
            ("tokens / holds", f"{c.tokens:,} issued ({c.token_refused:,} refused) / "
                               f"{c.holds:,} placed"),
            ("txns uploaded", f"{self.uploaded:,} ({self.accepted:,} accepted, "
                              f"{self.duplicate:,} duplicate, {self.rejected:,} rejected, "
                              f"{self.pending:,} still queued)"),
            ("acks (batches)", f"{self.batches:,}"),
            ("retries", f"{self.retries:,}"),
            ("heartbeats", f"{self.heartbeats:,}"),
            ("offline periods", f"{c.offline_periods:,} ({c.caught_up:,} caught up; catch-up "
                                f"p50 {_pct(cu, 50):.2f} s, max {cu[-1] if cu else 0:.2f} s)"),
            ("upload latency", f"p50 {_pct(sorted(self.upload_ms), 50):.0f} ms, "
                               f"p99 {_pct(sorted(self.upload_ms), 99):.0f} ms "
                               "(sale committed online -> acknowledged)"),
            ("request latency", f"p50 {_pct(sorted(self.request_ms), 50):.0f} ms, "
                                f"p99 {_pct(sorted(self.request_ms), 99):.0f} ms "
                                "(POST /v1/transactions)"),
            ("time", f"{self.sell_s:.1f} s selling + {self.drain_s:.1f} s draining; "
                     f"{rate:,.0f} txn/s sustained"),
            ("till databases", str(self.work_dir)),
        ]

    def table(self) -> str:
        rows = self.rows()
        width = max(len(k) for k, _ in rows)
        return "".join(f"{k.ljust(width)}  {v}\n" for k, v in rows)


def _pct(values: list[float], p: int) -> float:
    if not values:
        return 0.0
    if p == 50:
        return float(statistics.median(values))
    return float(values[min(len(values) - 1, len(values) * p // 100)])


class _TimedTransport(httpx.BaseTransport):
    """The tills' shared connection pool; times each upload request."""

    def __init__(self, connections: int) -> None:
        self.inner = httpx.HTTPTransport(limits=httpx.Limits(
            max_connections=connections, max_keepalive_connections=connections))
        self.samples: list[float] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        t0 = time.perf_counter()
        resp = self.inner.handle_request(request)
        if request.url.path == "/v1/transactions":
            resp.read()
            self.samples.append((time.perf_counter() - t0) * 1000)
        return resp

    def close(self) -> None:
        """Shared by every till: closed once by the fleet (``shut``), not by each client."""

    def shut(self) -> None:
        self.inner.close()


@dataclass
class Registration:
    """What the ledger gave the fleet: till keys, the app key, the bundle version."""

    keys: dict[str, str]
    app_key: str
    bundle_version: int
    jwks: dict[str, Any]


def register(plan: Plan, db_url: str) -> Registration:
    """Import the bundle and members, register the tills and an app key, in the ledger DB.

    The same ledger operations ``kopilka ledger import``, ``members import``,
    ``till add`` and ``app-key add`` run. A till that exists already is
    refused (``till_exists``): run the next fleet with another ``prefix``.
    """
    from sync.ledger import Ledger, add_key

    with Ledger(db_url) as led:
        version, _ = led.import_bundle(json.dumps(plan.bundle, ensure_ascii=False))
        if not led.jwks().get("keys"):
            _kid, republished = led.rotate_keys()  # the tokens' signing key
            version = republished or version
        led.import_members("\n".join(json.dumps(m.to_import()) for m in plan.members))
        keys = {t.id: led.add_till(t.store, t.id) for t in plan.tills}
        app_key = add_key(led, "app", f"{plan.config.prefix}-fleet-{uuid.uuid4().hex[:8]}")
        return Registration(keys, app_key, version, led.jwks())


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class _Runner:
    """Seller threads, upload workers and a timer, over one list of tills."""

    def __init__(self, plan: Plan, tills: list[SimTill], *, sellers: int, workers: int,
                 heartbeat_s: float) -> None:
        self.plan = plan
        self.tills = tills
        self.n_sellers = max(1, min(sellers, len(tills)))
        self.n_workers = max(1, workers)
        self.heartbeat_s = heartbeat_s
        self.ready: queue.SimpleQueue[tuple[str, int]] = queue.SimpleQueue()
        self.queued = [False] * len(tills)
        self.lock = threading.Lock()
        self.timers: list[tuple[float, int, str, int]] = []
        self.timer_cond = threading.Condition()
        self.tick = itertools.count()
        self.stop = threading.Event()
        self.selling_done = threading.Event()
        self.sim_now = [0.0] * self.n_sellers
        self.errors = 0
        self.t0 = 0.0
        for t in tills:
            t.outbox.add_listener(self._listener(t.spec.index))

    # -- upload side ----------------------------------------------------------
    def _listener(self, idx: int) -> Callable[[Any], None]:
        return lambda _row: self.notify(idx)

    def notify(self, idx: int) -> None:
        with self.lock:
            if self.queued[idx]:
                return
            self.queued[idx] = True
        self.ready.put(("up", idx))

    def later(self, delay: float, kind: str, idx: int) -> None:
        with self.timer_cond:
            heapq.heappush(self.timers, (time.monotonic() + delay, next(self.tick), kind, idx))
            self.timer_cond.notify()

    def _timer(self) -> None:
        with self.timer_cond:
            while not self.stop.is_set():
                now = time.monotonic()
                while self.timers and self.timers[0][0] <= now:
                    _, _, kind, idx = heapq.heappop(self.timers)
                    if kind == "up":
                        self.notify(idx)
                    else:
                        self.ready.put((kind, idx))
                wait = self.timers[0][0] - now if self.timers else 0.5
                self.timer_cond.wait(min(wait, 0.5))

    def _worker(self) -> None:
        while not self.stop.is_set():
            try:
                kind, idx = self.ready.get(timeout=0.2)
            except queue.Empty:
                continue
            till = self.tills[idx]
            try:
                if kind == "hb":
                    if till.online:
                        till.uploader.heartbeat()
                    if not self.selling_done.is_set():
                        self.later(self.heartbeat_s, "hb", idx)
                    continue
                with self.lock:
                    self.queued[idx] = False
                if not till.online:
                    continue
                wait = till.uploader.backoff.remaining()
                if wait > 0:
                    self.later(wait, "up", idx)
                    continue
                report = till.uploader.sync_now(max_failures=1, wait=lambda _d: None)
                if report.error is not None:
                    self.later(max(0.01, till.uploader.backoff.remaining()), "up", idx)
                elif report.remaining == 0:
                    till.caught_up()
            except Exception:  # noqa: BLE001 - a till's failure must not stop the fleet
                log.exception("fleet: till %s upload failed", till.spec.id)
                self.errors += 1
                self.later(0.5, "up", idx)

    # -- selling side ------------------------------------------------------------
    def _seller(self, k: int) -> None:
        mine = self.tills[k::self.n_sellers]
        heap: list[tuple[float, int, int, Any, Iterator[Any]]] = []
        for t in mine:
            it = self.plan.events(t.spec)
            ev = next(it, None)
            if ev is not None:
                heap.append((ev.t, next(self.tick), t.spec.index, ev, it))
        heapq.heapify(heap)
        compress = self.plan.config.compress
        while heap and not self.stop.is_set():
            t_sim, _, idx, ev, it = heap[0]
            delay = self.t0 + t_sim / compress - time.monotonic()
            if delay > 0 and self.stop.wait(delay):
                break
            heapq.heappop(heap)
            self.sim_now[k] = t_sim
            till = self.tills[idx]
            try:
                if isinstance(ev, Sale):
                    till.sell(ev)
                elif isinstance(ev, Return):
                    till.give_back(ev)
                elif self.plan.config.backlog:
                    pass  # offline all day: the plan's windows change nothing
                elif isinstance(ev, Offline):
                    till.go_offline()
                elif isinstance(ev, Online):
                    till.go_online()
                    self.notify(idx)
            except Exception:  # noqa: BLE001
                log.exception("fleet: till %s could not make %s", till.spec.id, type(ev).__name__)
                self.errors += 1
            nxt = next(it, None)
            if nxt is not None:
                heapq.heappush(heap, (nxt.t, next(self.tick), idx, nxt, it))
        self.sim_now[k] = self.plan.sim_seconds

    def run(self, progress: Progress | None, drain_timeout_s: float) -> tuple[float, float, int]:
        """Sell the whole plan, then drain; (selling s, draining s, rows still queued)."""
        threads = [threading.Thread(target=self._timer, name="fleet-timer", daemon=True)]
        threads += [threading.Thread(target=self._worker, name=f"fleet-up-{i}", daemon=True)
                    for i in range(self.n_workers)]
        if self.plan.config.backlog:
            for till in self.tills:
                till.go_offline()
        self.t0 = time.monotonic()
        sellers = [threading.Thread(target=self._seller, args=(k,), name=f"fleet-sell-{k}",
                                    daemon=True) for k in range(self.n_sellers)]
        for t in threads + sellers:
            t.start()
        if self.heartbeat_s > 0:
            for i in range(len(self.tills)):
                self.later(self.heartbeat_s * (i % 97) / 97, "hb", i)
        total = self.plan.sim_seconds
        try:
            alive = [s for s in sellers if s.is_alive()]
            while alive:
                if progress is not None:
                    progress(min(self.sim_now), total, sum(t.counters.sales for t in self.tills))
                alive[0].join(timeout=0.2)
                alive = [s for s in alive if s.is_alive()]
            self.selling_done.set()
            sell_s = time.monotonic() - self.t0
            if progress is not None:
                progress(total, total, sum(t.counters.sales for t in self.tills))
            t1 = time.monotonic()
            for till in self.tills:
                if not till.online:
                    till.go_online()
                self.notify(till.spec.index)
            pending = self._drain(drain_timeout_s)
            return sell_s, time.monotonic() - t1, pending
        finally:
            self.stop.set()
            with self.timer_cond:
                self.timer_cond.notify_all()
            for t in threads + sellers:
                t.join(timeout=30)

    def _drain(self, timeout_s: float) -> int:
        """Wait until every till's queue is empty; rows still queued at the timeout."""
        deadline = time.monotonic() + timeout_s
        left = list(self.tills)
        while True:
            depth = {t.spec.index: _queue_depth(t) for t in left}
            left = [t for t in left if depth[t.spec.index]]
            if not left or time.monotonic() > deadline:
                return sum(depth.values())
            for t in left:
                if not self.queued[t.spec.index] and t.uploader.backoff.remaining() <= 0:
                    self.notify(t.spec.index)
            self.stop.wait(0.1)  # pacing the poll of the tills' queues


def _queue_depth(till: SimTill) -> int:
    with till.db.reader() as conn:
        return int(conn.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
                   .fetchone()[0])


def _latencies(tills: list[SimTill]) -> list[float]:
    """Commit -> acknowledgement (ms) of the rows committed and acknowledged while online."""
    out: list[float] = []
    for t in tills:
        windows = t.counters.offline_windows
        with t.db.reader() as conn:
            rows = conn.execute("SELECT created_at, acked_at FROM outbox WHERE status = 'acked'"
                                " AND acked_at IS NOT NULL").fetchall()
        for created, acked in rows:
            if any(a <= acked and created <= b for a, b in windows):
                continue
            out.append((float(acked) - float(created)) * 1000)
    return out


def _add(total: TillCounters, c: TillCounters) -> None:
    for name, value in vars(c).items():
        if isinstance(value, int):
            setattr(total, name, getattr(total, name) + value)
        elif isinstance(value, list):
            getattr(total, name).extend(value)


def run_fleet(ledger_url: str, db_url: str, config: FleetConfig | None = None, *,
              work_dir: Path | None = None, progress: Progress | None = None,
              sellers: int = 4, upload_threads: int = 8, heartbeat_s: float | None = None,
              batch_size: int = 500, drain_timeout_s: float = 300.0) -> FleetResult:
    """Register a fleet in ``db_url``'s ledger, sell through ``ledger_url``, drain; the figures.

    ``work_dir`` keeps each till's SQLite database (``<till>.db``), kept
    after the run so its outbox can be read (a new temporary folder if
    None). Heartbeats go every ``heartbeat_s`` real seconds (default: a
    simulated minute, at least 2 s).
    """
    cfg = config or FleetConfig()
    plan = make_plan(cfg)
    work = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="kopilka-fleet-"))
    work.mkdir(parents=True, exist_ok=True)
    _raise_fd_limit()
    reg = register(plan, db_url)
    from agent import KeySet

    transport = _TimedTransport(upload_threads + 2 * sellers + 4)
    app = httpx.Client(base_url=ledger_url, transport=transport, timeout=30.0,
                       headers={"Authorization": f"Bearer {reg.app_key}"})
    program = plan.bundle.get("program", {})
    shared = Shared(
        plan=plan, engine=fastcore.Engine(fastcore.load_bundle(json.dumps(plan.bundle))),
        bundle_version=reg.bundle_version, keys=KeySet.from_jwks(reg.jwks),
        program=str(program.get("id") or "kopilka"),
        offline_card_cap=int(program.get("offline_card_redeem_cap") or 0),
        units={str(c["sku"]): str(c.get("unit") or "pcs") for c in plan.bundle["catalog"]},
        ledger_url=ledger_url, transport=transport, app=app)
    tills: list[SimTill] = []
    try:
        for spec in plan.tills:
            tills.append(SimTill(spec, reg.keys[spec.id], work, shared, batch_size=batch_size))
        hb = heartbeat_s if heartbeat_s is not None else max(2.0, 60.0 / cfg.compress)
        runner = _Runner(plan, tills, sellers=sellers, workers=upload_threads, heartbeat_s=hb)
        sell_s, drain_s, pending = runner.run(progress, drain_timeout_s)
        total = TillCounters()
        result = FleetResult(cfg, work, ledger_url, db_url, reg.bundle_version,
                             [t.id for t in plan.tills], [s.id for s in plan.stores],
                             [m.account for m in plan.members], total,
                             sell_s=sell_s, drain_s=drain_s, pending=pending,
                             errors=runner.errors)
        for t in tills:
            _add(total, t.counters)
            up = t.uploader.counters
            result.accepted += up.accepted
            result.duplicate += up.duplicate
            result.rejected += up.rejected
            result.batches += up.batches
            result.retries += up.failures
            result.heartbeats += up.heartbeats
        result.uploaded = result.accepted + result.duplicate
        result.upload_ms = _latencies(tills)
        result.request_ms = list(transport.samples)
        return result
    finally:
        for t in tills:
            t.close()
        app.close()
        transport.shut()


def outbox_rows(path: Path) -> list[dict[str, Any]]:
    """Every TXN of one till database with its status (``acked``, ``pending``, ``rejected``)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT body, status FROM outbox ORDER BY seq").fetchall()
    finally:
        conn.close()
    return [dict(json.loads(body), _status=status) for body, status in rows]
