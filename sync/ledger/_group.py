"""Group commit: the requests of one server process share one durable commit.

A durable commit (an fsync of the WAL) costs milliseconds, far more than
the statements of a one-sale upload; with one commit per request a server
tops out at a few hundred requests a second whatever its CPU. Here every
write request is a *job* — a function of an open transaction — handed to
``GroupCommit.run``. The first caller becomes the leader: it takes every
job queued so far, runs each in its own savepoint of one transaction,
commits once, and only then wakes the callers with their answers. Jobs
that arrive while that commit is in flight queue up and form the next
group, led by the first of them (no timer: a lone request is committed at
once, a busy server batches by itself).

A job's savepoint isolates it: a failure of its own (a bug, a value the
database refuses) undoes only its writes and is raised to its caller
alone. A transient failure of one job (a deadlock with another process)
undoes that job and runs it again alone after the group's commit. A
failed commit (the database went away) is raised to every caller of the
group — the HTTP layer answers them all 503, and the tills resend; nothing
was acknowledged, so nothing is lost or doubled.

A group whose jobs are all ``durable=False`` (heartbeats) commits without
waiting for the disk (``Storage.transaction(durable=False)``).

Jobs that name the same ``combine`` function (and different ``key``s) are
first tried together, set-based, in one savepoint — one statement for the
sales of many uploads instead of one each: a group of one-sale uploads
costs a few round trips to the database per till rather than thirty. If
the combined run fails in any way, its savepoint is undone and each of its
jobs runs alone as above; nothing is answered from the combined attempt.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ._errors import StorageError
from ._storage import Storage, Tx

log = logging.getLogger(__name__)

T = TypeVar("T")

#: the most jobs committed together (bounds one transaction's size and locks)
MAX_GROUP = 256


def transient(exc: BaseException) -> bool:
    """True for a failure a retry can fix (database unavailable, lock, serialisation).

    Everything else raised while applying one TXN is a property of that TXN
    and is answered ``rejected`` (spec/sync.md: a 5xx means "retry").
    """
    if isinstance(exc, StorageError):
        return True
    import sqlite3

    if isinstance(exc, sqlite3.OperationalError):
        return True  # locked, busy, disk I/O
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the SQLite-only install
        return False
    # OperationalError covers serialization failures, deadlocks, lock and
    # statement timeouts, a server going away; InterfaceError a closed connection
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))


#: runs many jobs' items at once, one value per item, in order
Combine = Callable[[Tx, list[Any]], list[Any]]


class _Job(Generic[T]):
    __slots__ = ("fn", "durable", "combine", "item", "key", "wake", "finished", "value",
                 "error")

    def __init__(self, fn: Callable[[Tx], T], durable: bool, combine: Combine | None,
                 item: Any, key: Any) -> None:
        self.fn = fn
        self.durable = durable
        self.combine, self.item, self.key = combine, item, key
        self.wake = threading.Event()
        self.finished = False
        self.value: T | None = None
        self.error: BaseException | None = None

    def result(self) -> T:
        if self.error is not None:
            if transient(self.error) and not isinstance(self.error, StorageError):
                # a deadlock or lock timeout even when run alone: "retry later", said
                # as the storage's own unavailable (503), never an unexplained crash
                raise StorageError("unavailable", f"{type(self.error).__name__}: {self.error}"
                                   ) from self.error
            raise self.error
        return self.value  # type: ignore[return-value]


class GroupCommit:
    """Runs jobs of many threads in shared transactions (leader/follower)."""

    def __init__(self, storage: Storage, max_group: int = MAX_GROUP) -> None:
        self.storage = storage
        self.max_group = max_group
        self._mu = threading.Lock()
        self._queue: list[_Job[Any]] = []
        self._leading = False
        #: groups committed, jobs in them, and those of them done combined
        self.groups = 0
        self.jobs = 0
        self.combined = 0

    def waiting(self) -> int:
        """Jobs queued for the next group (not yet taken by a leader)."""
        with self._mu:
            return len(self._queue)

    def run(self, fn: Callable[[Tx], T], *, durable: bool = True,
            combine: Combine | None = None, item: Any = None, key: Any = None) -> T:
        """``fn(tx)`` inside a savepoint of a shared transaction; its value once committed.

        With ``combine``: the job may instead be done as ``combine(tx, items)``
        with other queued jobs of the same ``combine`` and other ``key``s.
        """
        job: _Job[T] = _Job(fn, durable, combine, item, key)
        with self._mu:
            self._queue.append(job)
            lead = not self._leading
            self._leading = True
        if not lead:
            job.wake.wait()
        if not job.finished:  # the leader's turn (first, or handed over)
            self._lead(job)
        return job.result()

    def _lead(self, own: _Job[Any]) -> None:
        try:
            while not own.finished:
                with self._mu:
                    group = self._queue[:self.max_group]
                    del self._queue[:self.max_group]
                self._commit(group)
        finally:
            with self._mu:
                if self._queue:  # hand over to the first waiting caller
                    self._queue[0].wake.set()
                else:
                    self._leading = False

    def _commit(self, group: list[_Job[Any]]) -> None:
        again: list[_Job[Any]] = []
        try:
            durable = any(j.durable for j in group)
            with self.storage.transaction(durable=durable) as tx:
                done = self._combined(tx, group)
                self.combined += len(done)
                for job in group:
                    if id(job) in done:
                        continue
                    try:
                        with tx.savepoint():
                            job.value = job.fn(tx)
                    except Exception as exc:  # noqa: BLE001 - the job's own answer
                        if transient(exc) and len(group) > 1:
                            again.append(job)
                        else:
                            job.error = exc
            self.groups += 1
            self.jobs += len(group)
        except BaseException as exc:  # noqa: BLE001 - nothing of the group committed
            for job in group:
                job.value, job.error = None, exc
            again = []
        for job in again:  # e.g. a deadlock with another process: alone this time
            try:
                with self.storage.transaction(durable=job.durable) as tx:
                    job.value = job.fn(tx)
                job.error = None
            except BaseException as exc:  # noqa: BLE001 - its caller's answer
                job.value, job.error = None, exc
        for job in group:
            job.finished = True
            job.wake.set()

    @staticmethod
    def _combined(tx: Tx, group: list[_Job[Any]]) -> set[int]:
        """Run the combinable jobs together; the ids of those done (none on a failure)."""
        sets: dict[Combine, list[_Job[Any]]] = {}  # (bound methods compare by their object)
        keys: set[tuple[Combine, Any]] = set()
        for job in group:
            if job.combine is not None and (job.combine, job.key) not in keys:
                keys.add((job.combine, job.key))
                sets.setdefault(job.combine, []).append(job)
        done: set[int] = set()
        for jobs in sets.values():
            if len(jobs) < 2:
                continue
            combine = jobs[0].combine
            assert combine is not None
            try:
                with tx.savepoint():
                    values = combine(tx, [j.item for j in jobs])
            except Exception as exc:  # noqa: BLE001 - each job is run alone instead
                log.info("%d jobs could not be done together (%r); one by one", len(jobs), exc)
                continue
            for job, value in zip(jobs, values, strict=True):
                job.value = value
                done.add(id(job))
        return done
