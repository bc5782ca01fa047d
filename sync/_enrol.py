"""Re-enrolling a till whose data was wiped (``kopilka till re-enrol``).

A wiped till starts its outbox at seq 1 again; the ledger refuses every seq
it already holds as ``seq_conflict``, forever. Re-enrolment, with the
agent stopped (it takes the uploader's lock, so nothing else uploads
meanwhile):

1. offers every pending row to the ledger (``sync_now``): afterwards each
   row is acknowledged or refused, and a ``seq_conflict`` refusal proves the
   ledger never applied that row; if any row stays unanswered (ledger
   unreachable), it stops and changes nothing;
2. ``POST /v1/tills/me/re-enrol`` (recorded at the ledger) answers the
   till's highest seq there and its hash;
3. ``Outbox.re_enrol`` moves the refused rows after that seq, in one
   transaction, and the next sale continues from there;
4. offers the moved rows (``sync_now``): they are accepted with fresh seqs.

Already accepted sales are never moved, resent under another seq or lost.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from ._errors import OutboxError, SyncError
from ._outbox import Outbox, ReEnrolment
from ._uploader import SyncReport, Uploader

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnrolReport:
    """What re-enrolment did (printed by the CLI)."""

    ledger: dict[str, Any]
    before: SyncReport
    moved: ReEnrolment
    after: SyncReport


def _ledger_seqs(uploader: Uploader, outbox: Outbox) -> dict[str, Any]:
    try:
        resp = uploader.client.post("/v1/tills/me/re-enrol",
                                    json={"till": outbox.till, "store": outbox.store})
    except httpx.TransportError as exc:
        raise SyncError("offline", f"the ledger is unreachable: {exc}") from exc
    try:
        answer = resp.json()
    except ValueError:
        answer = None
    if resp.status_code != 200 or not isinstance(answer, dict):
        reason = answer.get("error") if isinstance(answer, dict) else None
        detail = answer.get("detail") if isinstance(answer, dict) else resp.text[:200]
        raise SyncError(str(reason or f"http_{resp.status_code}"),
                        f"the ledger refused the re-enrolment (HTTP {resp.status_code}): {detail}")
    for key in ("max_seq", "last_hash", "till", "store"):
        if key not in answer:
            raise SyncError("bad_answer", f"the ledger's answer has no {key}")
    if answer["till"] != outbox.till or answer["store"] != outbox.store:
        raise SyncError("forbidden", f"the key belongs to till {answer['till']} of store "
                                     f"{answer['store']}, not {outbox.till} of {outbox.store}")
    return answer


def re_enrol(outbox: Outbox, *, base_url: str, key: str,
             transport: httpx.BaseTransport | None = None,
             progress: Callable[[int, int], None] | None = None,
             wait: Callable[[float], object] | None = None) -> EnrolReport:
    """Re-enrol the till of ``outbox`` with the ledger (module doc).

    Raises ``UploaderBusy`` when the agent is running on this database,
    ``SyncError`` when the ledger cannot be reached or refuses, and
    ``OutboxError("unsynced")`` when rows stay unanswered; nothing changes then.
    """
    with Uploader(outbox, base_url=base_url, key=key, transport=transport,
                  heartbeat_every_s=0) as up:
        before = up.sync_now(progress, wait=wait)
        if before.remaining:
            raise OutboxError("unsynced", f"{before.remaining} sales are not yet answered by the "
                              f"ledger ({before.error or 'unknown error'}); nothing was changed: "
                              "re-enrol when the ledger can be reached")
        found = _ledger_seqs(up, outbox)
        moved = outbox.re_enrol(int(found["max_seq"]), str(found["last_hash"]))
        after = up.sync_now(progress, wait=wait)
    log.warning("till %s re-enrolled: %d sales moved after the ledger's seq %d",
                outbox.till, moved.moved, moved.base_seq)
    return EnrolReport(found, before, moved, after)
