"""Online redemption holds and card look-ups, inside a hard time budget.

Why a hard budget: the cashier must not wait on the network. ``httpx``'s
timeout bounds each phase (connect, write, read), not the whole request, so
the request runs in a worker thread and the caller waits at most the
budget (default 300 ms). Past it the answer is ``offline`` and the till
falls back to the offline rule of spec/token.md. If a hold we stopped
waiting for is granted afterwards, it is released at once so that points
are not locked for 15 minutes by a sale that went offline.
"""
from __future__ import annotations

import concurrent.futures as cf
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HoldOutcome:
    """``kind``: ``held`` (``hold_id``), ``insufficient`` (``available``) or ``offline`` (``reason``)."""

    kind: str
    hold_id: str | None = None
    points: int = 0
    expires_at: str | None = None
    available: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class CardLookup:
    """``kind``: ``found`` (``customer``), ``unknown`` (404) or ``offline`` (``reason``)."""

    kind: str
    customer: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


class HoldClient:
    """Places and releases holds, and looks cards up, within ``budget_s``."""

    def __init__(
        self,
        *,
        base_url: str,
        key: str,
        till: str,
        transport: httpx.BaseTransport | None = None,
        budget_s: float = 0.3,
    ) -> None:
        self.till = till
        self.budget_s = budget_s
        self.client = httpx.Client(
            base_url=base_url, transport=transport, timeout=httpx.Timeout(budget_s),
            headers={"Authorization": f"Bearer {key}"},
        )
        self._pool = cf.ThreadPoolExecutor(max_workers=4, thread_name_prefix="holds")

    def _within_budget(
        self, call: Callable[[], httpx.Response], late: Callable[[httpx.Response], None] | None = None
    ) -> httpx.Response | str:
        future = self._pool.submit(call)
        try:
            return future.result(timeout=self.budget_s)
        except cf.TimeoutError:
            if late is not None:
                def _late(f: cf.Future[httpx.Response]) -> None:
                    if f.exception() is None:
                        late(f.result())
                future.add_done_callback(_late)
            return "timeout"
        except httpx.TimeoutException:
            return "timeout"  # httpx's own phase timeout can win the race with the budget
        except httpx.HTTPError as exc:
            return f"network: {type(exc).__name__}"

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response | str:
        """One request to the ledger within the hold budget; a ``str`` says why no answer came.

        The till's other short online calls (a gift certificate's hold, code and
        release: agent/_ledger.py) share this budget and pool rather than keep their own.
        """
        return self._within_budget(lambda: self.client.request(method, path, json=body))

    def place(self, account: str, points: int, txn_id: str) -> HoldOutcome:
        """Hold ``points`` of ``account`` for sale ``txn_id``; never longer than the budget."""
        body = {"till": self.till, "account": account, "points": points, "txn_id": txn_id}

        def release_late(resp: httpx.Response) -> None:
            if resp.status_code == 201:
                try:
                    self.release(resp.json()["hold_id"])
                except Exception:  # best effort: the hold expires anyway
                    log.info("could not release a late hold for %s", txn_id)

        resp = self._within_budget(lambda: self.client.post("/v1/holds", json=body), release_late)
        if isinstance(resp, str):
            return HoldOutcome("offline", reason=resp)
        try:
            answer = resp.json()
        except ValueError:
            return HoldOutcome("offline", reason=f"http_{resp.status_code}")
        if resp.status_code == 201 and isinstance(answer, dict) and "hold_id" in answer:
            return HoldOutcome("held", hold_id=str(answer["hold_id"]), points=int(answer.get("points", points)),
                               expires_at=answer.get("expires_at"))
        if resp.status_code == 409 and isinstance(answer, dict) and answer.get("error") == "insufficient_balance":
            available = answer.get("available")
            return HoldOutcome("insufficient", available=available if isinstance(available, int) else None)
        code = answer.get("error") if isinstance(answer, dict) else None
        return HoldOutcome("offline", reason=str(code) if code else f"http_{resp.status_code}")

    def release(self, hold_id: str) -> bool:
        """Release a hold (a cancelled sale); True when the ledger confirmed."""
        resp = self._within_budget(lambda: self.client.delete(f"/v1/holds/{hold_id}"))
        return not isinstance(resp, str) and resp.status_code == 200

    def lookup_card(self, card: str) -> CardLookup:
        """Look a card number up on the ledger within the budget."""
        resp = self._within_budget(lambda: self.client.get(f"/v1/customers/{card}"))
        if isinstance(resp, str):
            return CardLookup("offline", reason=resp)
        if resp.status_code == 404:
            return CardLookup("unknown")
        if resp.status_code != 200:
            return CardLookup("offline", reason=f"http_{resp.status_code}")
        try:
            answer = resp.json()
        except ValueError:
            return CardLookup("offline", reason="bad_answer")
        if not isinstance(answer, dict):
            return CardLookup("offline", reason="bad_answer")
        return CardLookup("found", customer=answer)

    def enrol(self, card: str, registration: str | None = None) -> CardLookup:
        """Enrol a new card on the ledger within the budget (docs/enrolment.md).

        ``found``: the card's profile (``account`` is the ledger's);
        ``unknown``: the ledger refused it (``reason``: its error code);
        ``offline``: no answer in time (the till enrols offline).
        """
        body: dict[str, Any] = {"till": self.till, "card": card}
        if registration is not None:
            body["registration"] = registration
        resp = self._within_budget(lambda: self.client.post("/v1/enrolments", json=body))
        if isinstance(resp, str):
            return CardLookup("offline", reason=resp)
        try:
            answer = resp.json()
        except ValueError:
            return CardLookup("offline", reason=f"http_{resp.status_code}")
        if resp.status_code == 200 and isinstance(answer, dict) and isinstance(answer.get("account"), str):
            return CardLookup("found", customer=answer)
        if 400 <= resp.status_code < 500 and resp.status_code not in (401, 408, 429) and isinstance(answer, dict):
            return CardLookup("unknown", reason=str(answer.get("error") or f"http_{resp.status_code}"))
        return CardLookup("offline", reason=f"http_{resp.status_code}")

    def close(self) -> None:
        """Wait for in-flight calls (each bounded by the timeout) and close."""
        self._pool.shutdown(wait=True)
        self.client.close()

    def __enter__(self) -> HoldClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
