"""The bundle puller: ``GET /v1/bundle?since=V`` and the engine swap.

The ledger answers ``none``, a ``delta`` or a ``full`` bundle. Whatever
comes is validated and stored by the ``PromoCache`` in one SQLite
transaction; only then is the new compiled engine handed to ``on_engine``
(the agent swaps it between two scans, never pausing scanning). Offline or
refused, the till keeps pricing with its last good bundle.

Each request also carries the cursor of the till's store customer cache
(``customers=``); the answer's ``customers`` member (upserts and deletes
of the store's cards, or the whole cache) is checked first and written in
the same SQLite transaction as the bundle it came with, or alone when the
bundle did not change. A bad ``customers`` member refuses the whole answer.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

import fastcore

from ._customercache import CustomerChanges, parse_changes, store_changes
from ._errors import BundleRefused
from ._promocache import PromoCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PullOutcome:
    """``kind``: none / delta / full (applied), offline, or refused (with ``reason``)."""

    kind: str
    version: int | None
    reason: str | None = None
    #: store customer cache: "full", "delta" (applied) or None (none came)
    customers: str | None = None


class BundlePuller:
    """Asks the ledger for bundle changes and installs them."""

    def __init__(
        self,
        cache: PromoCache,
        *,
        base_url: str,
        key: str,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        on_engine: Callable[[Any, int], None] | None = None,
    ) -> None:
        self.cache = cache
        self.on_engine = on_engine
        self.client = httpx.Client(
            base_url=base_url, transport=transport, timeout=timeout,
            headers={"Authorization": f"Bearer {key}"},
        )

    def _get(self, since: int) -> dict[str, Any] | PullOutcome:
        try:
            resp = self.client.get("/v1/bundle", params={
                "since": since, "customers": self.cache.customers_cursor})
        except httpx.TransportError as exc:
            log.info("bundle pull: offline (%s)", exc)
            return PullOutcome("offline", self.cache.version, type(exc).__name__)
        if resp.status_code != 200:
            return PullOutcome("offline", self.cache.version, f"http_{resp.status_code}")
        try:
            answer = fastcore.loads(resp.text)
        except ValueError as exc:
            return self._refused(BundleRefused("corrupt", f"answer is not JSON: {exc}"), None)
        if not isinstance(answer, dict):
            return self._refused(BundleRefused("corrupt", "answer is not an object"), None)
        return answer

    def _refused(self, err: BundleRefused, version: Any) -> PullOutcome:
        self.cache._refuse(err, version if isinstance(version, int) else None)
        return PullOutcome("refused", self.cache.version, err.reason)

    def pull_once(self) -> PullOutcome:
        """One round trip; never raises for network or bundle trouble."""
        since = self.cache.version or 0
        answer = self._get(since)
        if isinstance(answer, PullOutcome):
            return answer
        kind = answer.get("kind")
        version: Any = answer.get("version")  # checked by the cache when it installs
        try:
            if kind == "delta" and answer.get("from") != self.cache.version:
                # Built against another base: ask for the whole bundle.
                answer = self._get(0)
                if isinstance(answer, PullOutcome):
                    return answer
                kind, version = answer.get("kind"), answer.get("version")
            customers = self._customers(answer, version)
            done = None if customers is None else ("full" if customers.full else "delta")
            in_txn = None if customers is None else (lambda conn: store_changes(conn, customers))
            if kind == "none":
                if customers is not None:
                    self.cache.install_customers(customers)
                return PullOutcome("none", self.cache.version, customers=done)
            if kind == "delta":
                engine = self.cache.install_delta(answer["from"], version, answer.get("changes"),
                                                  in_txn=in_txn)
                self._swap(engine)
                return PullOutcome("delta", self.cache.version, customers=done)
            if kind == "full":
                bundle: Any = answer.get("bundle")  # checked by the cache when it installs
                engine = self.cache.install(bundle, version, in_txn=in_txn)
                self._swap(engine)
                return PullOutcome("full", self.cache.version, customers=done)
            err = BundleRefused("corrupt", f"unknown answer kind {kind!r}")
            self.cache._refuse(err, version if isinstance(version, int) else None)
            return PullOutcome("refused", self.cache.version, err.reason)
        except BundleRefused as err:
            # Already recorded by the cache; the last good bundle stays.
            return PullOutcome("refused", self.cache.version, err.reason)

    def _customers(self, answer: dict[str, Any], version: Any) -> CustomerChanges | None:
        """The answer's checked ``customers`` member (None: the ledger sent none)."""
        if answer.get("customers") is None:
            return None
        try:
            return parse_changes(answer["customers"])
        except BundleRefused as err:
            self.cache._refuse(err, version if isinstance(version, int) else None)
            raise

    def _swap(self, engine: Any) -> None:
        if self.on_engine is not None and self.cache.version is not None:
            self.on_engine(engine, self.cache.version)

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

    def __enter__(self) -> BundlePuller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
