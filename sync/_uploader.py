"""The uploader: drains the outbox to the ledger, oldest first, beside the sales.

It runs in its own thread and only ever reads committed rows, so a sale
never waits on it. Batches are POSTed gzip-compressed; each answer is
recorded in one transaction (the cursor moves only on the ledger's
acknowledgement). Failures (network, 5xx, 429, auth) back off with full
jitter and honour ``Retry-After``; the retry timer fires on its own, with no
new sale needed to wake it. A batch the ledger refuses as a whole with a 4xx
is split in halves until the single bad row is found and set aside in
quarantine, so one poisoned row never blocks the queue behind it.
"""
from __future__ import annotations

import gzip
import json
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx

from ._backoff import Backoff, parse_retry_after
from ._lease import UploaderLock
from ._worker import BackgroundLoop
from ._outbox import SEQ_CONFLICT_HINT, AckCounts, Outbox, OutboxRow

log = logging.getLogger(__name__)

_RETRY_STATUSES = {401, 403, 408, 425, 429}


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("kopilka")
    except Exception:  # not installed (running from a checkout)
        return "0+unknown"


@dataclass(frozen=True)
class _Batch:
    """Rows read for one request and their encoded body."""

    rows: list[OutboxRow]
    payload: bytes
    compressed: bool


class _Retry(Exception):
    """The batch could not be delivered now; try again after a backoff."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class SyncReport:
    """What one ``sync_now`` did; ``error`` is set when it stopped early."""

    sent: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    remaining: int = 0
    error: str | None = None


@dataclass
class UploaderCounters:
    """Totals since start, shown by ``kopilka status``."""

    batches: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    failures: int = 0
    heartbeats: int = 0
    last_error: str | None = None
    last_success_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Uploader(BackgroundLoop):
    """Exactly one per till database (an ``fcntl`` lock; see ``_lease``)."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        base_url: str,
        key: str,
        transport: httpx.BaseTransport | None = None,
        batch_size: int = 500,
        compress: bool = True,
        timeout: float = 10.0,
        backoff: Backoff | None = None,
        heartbeat_every_s: float = 60.0,
        poll_every_s: float = 1.0,
        hardware: Callable[[], Mapping[str, str]] | None = None,
        bundle_version: Callable[[], int | None] | None = None,
        agent_version: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lock = UploaderLock(outbox.db.path)
        self.outbox = outbox
        self.batch_size = batch_size
        self.compress = compress
        self.backoff = backoff if backoff is not None else Backoff(clock=clock)
        self.heartbeat_every_s = heartbeat_every_s
        self.poll_every_s = poll_every_s
        self.hardware = hardware
        self.bundle_version = bundle_version
        self.agent_version = agent_version or _package_version()
        self.clock = clock
        self.counters = UploaderCounters()
        try:
            self.client = httpx.Client(
                base_url=base_url,
                transport=transport,
                timeout=timeout,
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
        except BaseException:
            self.lock.release()
            raise
        self._send_lock = threading.Lock()
        BackgroundLoop.__init__(self, "uploader")
        self._next_heartbeat = 0.0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uploader-prep")
        self._ahead: Future[_Batch] | None = None
        outbox.add_listener(lambda _row: self._wake.set())

    # -- one batch --------------------------------------------------------------

    def _encode(self, rows: Sequence[OutboxRow], compress: bool) -> bytes:
        head = json.dumps({"till": self.outbox.till, "store": self.outbox.store})[:-1]
        # Rows go up byte for byte as committed: the hash covers that text.
        text = head + ', "transactions": [' + ",".join(r.body for r in rows) + "]}"
        data = text.encode("utf-8")
        return gzip.compress(data, compresslevel=1) if compress else data

    def _prepare(self, after_seq: int) -> _Batch:
        rows = self.outbox.pending(self.batch_size, after_seq)
        compress = self.compress
        return _Batch(rows, self._encode(rows, compress) if rows else b"", compress)

    def _post(self, rows: Sequence[OutboxRow], batch: _Batch | None = None) -> AckCounts:
        if batch is None or batch.compressed != self.compress:
            batch = _Batch(list(rows), self._encode(rows, self.compress), self.compress)
        headers = {"Content-Encoding": "gzip"} if batch.compressed else {}
        try:
            resp = self.client.post("/v1/transactions", content=batch.payload, headers=headers)
        except httpx.TransportError as exc:
            raise _Retry(f"network: {type(exc).__name__}: {exc}") from exc
        status = resp.status_code
        if status == 200:
            try:
                answer = resp.json()
                results = answer["results"]
                if not isinstance(results, list):
                    raise TypeError("results is not a list")
            except (ValueError, KeyError, TypeError) as exc:
                raise _Retry(f"bad answer from ledger: {exc}") from exc
            counts = self.outbox.record_results(
                results, epoch=answer.get("epoch"), high_water=answer.get("high_water"), sent=rows
            )
            done = counts.accepted + counts.duplicate + counts.rejected
            if done == 0:
                raise _Retry("ledger answered without results for this batch")
            return counts
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        if status >= 500 or status in _RETRY_STATUSES:
            raise _Retry(f"HTTP {status}: {resp.text[:200]}", retry_after)
        try:
            err = resp.json()
            if not isinstance(err, dict):
                raise ValueError("not an object")
            reason = str(err.get("error") or f"http_{status}")
            detail = err.get("detail")
        except ValueError:
            reason, detail = f"http_{status}", resp.text[:200]
        if status == 415 or reason in ("unsupported_encoding", "bad_encoding"):
            # The envelope, not a row, is at fault: send plain JSON next time.
            self.compress = False
            raise _Retry(f"HTTP {status} {reason}: retrying without gzip", retry_after)
        # Any other 4xx: the ledger refuses this request as a whole and changed
        # nothing. Split to find the bad row; a single bad row is quarantined.
        if len(rows) > 1:
            mid = len(rows) // 2
            a = self._post(rows[:mid])
            b = self._post(rows[mid:])
            return AckCounts(a.accepted + b.accepted, a.duplicate + b.duplicate,
                             a.rejected + b.rejected, a.reoffered + b.reoffered)
        self.outbox.quarantine(rows[0].seq, reason, detail)
        return AckCounts(rejected=1)

    def upload_once(self) -> AckCounts | None:
        """Send the oldest pending batch; ``None`` when the queue is empty.

        While a full batch is on the wire, the next one is read and
        compressed in a helper thread (the till's side of a long drain then
        costs little more than the ledger's). Raises ``_Retry`` (internal)
        on a failure that calls for backoff.
        """
        with self._send_lock:
            ahead, self._ahead = self._ahead, None
            try:
                batch = ahead.result() if ahead is not None else None
            except Exception:  # the read-ahead failed: read again below
                log.exception("uploader read-ahead failed")
                batch = None
            if batch is None or not batch.rows:
                batch = self._prepare(0)
            if not batch.rows:
                return None
            rows = batch.rows
            if len(rows) == self.batch_size:
                self._ahead = self._pool.submit(self._prepare, rows[-1].seq)
            try:
                counts = self._post(rows, batch)
            except BaseException:
                self._drop_ahead()
                raise
            if counts.reoffered or counts.accepted + counts.duplicate + counts.rejected != len(rows):
                self._drop_ahead()  # read afresh, oldest first
        c = self.counters
        c.batches += 1
        c.accepted += counts.accepted
        c.duplicate += counts.duplicate
        c.rejected += counts.rejected
        c.last_success_at = time.time()
        c.last_error = None
        if self.outbox.seq_conflicts():
            # Not a network failure (no backoff), but the operator must act
            # (shown until the re-enrolment moves those rows).
            c.last_error = f"seq_conflict: {SEQ_CONFLICT_HINT}"
        self.backoff.success()
        return counts

    def _drop_ahead(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            try:
                ahead.result()
            except Exception:
                log.exception("uploader read-ahead failed")

    def _failed(self, err: _Retry) -> float:
        self.counters.failures += 1
        self.counters.last_error = err.reason
        delay = self.backoff.failure(err.retry_after)
        log.warning("upload failed (%s); retrying in %.2fs", err.reason, delay)
        return delay

    # -- heartbeat ----------------------------------------------------------------

    def heartbeat(self) -> bool:
        """Send one heartbeat; True when the ledger answered 200."""
        st = self.outbox.status()
        try:
            hardware = dict(self.hardware()) if self.hardware else {}
        except Exception as exc:  # a broken health probe is itself news
            hardware = {"health_probe": f"error: {exc}"}
        body = {
            "till": self.outbox.till,
            "store": self.outbox.store,
            "queue_depth": st.queue_depth,
            "oldest_unsynced_age_s": int(st.oldest_unsynced_age_s),
            "bundle_version": self.bundle_version() if self.bundle_version else None,
            "agent_version": self.agent_version,
            "hardware": hardware,
            "at": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
        }
        try:
            resp = self.client.post("/v1/heartbeat", json=body)
        except httpx.TransportError as exc:
            log.info("heartbeat failed: %s", exc)
            return False
        if resp.status_code != 200:
            log.info("heartbeat answered HTTP %d: %s", resp.status_code, resp.text[:200])
            return False
        self.counters.heartbeats += 1
        try:
            epoch = resp.json().get("epoch")
        except ValueError:
            return True
        if isinstance(epoch, str) and self.outbox.observe_epoch(epoch):
            self._wake.set()
        return True

    # -- draining -------------------------------------------------------------------

    def sync_now(
        self,
        progress: Callable[[int, int], None] | None = None,
        *,
        max_failures: int = 3,
        wait: Callable[[float], object] | None = None,
    ) -> SyncReport:
        """Drain the queue now (``kopilka sync now``), calling ``progress(done, total)``.

        Honours the backoff between failures and gives up after
        ``max_failures`` consecutive ones, reporting why.
        """
        report = SyncReport()
        total = self.outbox.status().queue_depth
        failures = 0
        waiter = wait if wait is not None else self._stop.wait
        while True:
            try:
                counts = self.upload_once()
            except _Retry as err:
                failures += 1
                delay = self._failed(err)
                if failures >= max_failures:
                    report.error = err.reason
                    break
                waiter(delay)
                continue
            if counts is None:
                break
            failures = 0
            report.accepted += counts.accepted
            report.duplicate += counts.duplicate
            report.rejected += counts.rejected
            report.sent = report.accepted + report.duplicate + report.rejected
            total = max(total, report.sent)
            if progress is not None:
                progress(report.sent, total)
        report.remaining = self.outbox.status().queue_depth
        return report

    def notify(self) -> None:
        """Wake the loop (a new sale); never blocks and never bypasses the backoff."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self.clock()
            if self.heartbeat_every_s and now >= self._next_heartbeat:
                self._next_heartbeat = now + self.heartbeat_every_s
                self.heartbeat()
            wait = self.backoff.remaining()
            if wait <= 0:
                try:
                    if self.upload_once() is not None:
                        continue
                except _Retry as err:
                    self._failed(err)
                    continue
                except Exception:  # pragma: no cover - logged; the loop must live on
                    log.exception("uploader loop error")
                    self.backoff.failure()
                    continue
                wait = self.poll_every_s
            if self.heartbeat_every_s:
                wait = min(wait, max(0.0, self._next_heartbeat - self.clock()))
            self._wake.wait(wait)
            self._wake.clear()

    def status(self) -> dict[str, Any]:
        """Queue, quarantine, WAL and upload counters, for ``kopilka status``."""
        st = self.outbox.status()
        wal = self.outbox.db.wal_status()
        return {
            **asdict(st),
            "action": f"seq_conflict: {SEQ_CONFLICT_HINT}" if st.seq_conflicts else None,
            "wal_bytes": wal.wal_bytes,
            "last_checkpoint_at": wal.last_checkpoint_at,
            "retry_in_s": round(self.backoff.remaining(), 3),
            "attempt": self.backoff.attempt,
            "counters": asdict(self.counters),
        }

    def close(self) -> None:
        """Stop, close the HTTP client and release the lock."""
        self.stop()
        self._drop_ahead()
        self._pool.shutdown(wait=True)
        self.client.close()
        self.lock.release()

    def __enter__(self) -> Uploader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
