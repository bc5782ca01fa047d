"""Both ends of the till ⇄ ledger protocol (docs/sync-protocol.md)."""
from __future__ import annotations

from ._backoff import Backoff, parse_retry_after
from ._customercache import cached_customer
from ._dbcli import db_group
from ._delta import apply_delta
from ._enrol import EnrolReport, re_enrol
from ._errors import BundleRefused, OutboxError, SyncError, TillDbCorrupt, UploaderBusy
from ._hashchain import GENESIS, canonical_json, txn_hash, verify_chain
from ._holds import CardLookup, HoldClient, HoldOutcome
from ._lease import UploaderLock
from ._outbox import AckCounts, Outbox, OutboxRow, OutboxStatus, ReEnrolment
from ._promocache import PromoCache
from ._puller import BundlePuller, PullOutcome
from ._tilldb import TillDb, WalStatus
from ._uploader import SyncReport, Uploader, UploaderCounters

__all__: list[str] = [
    "AckCounts",
    "Backoff",
    "BundlePuller",
    "BundleRefused",
    "CardLookup",
    "EnrolReport",
    "GENESIS",
    "HoldClient",
    "HoldOutcome",
    "Outbox",
    "OutboxError",
    "OutboxRow",
    "OutboxStatus",
    "PromoCache",
    "PullOutcome",
    "ReEnrolment",
    "SyncError",
    "SyncReport",
    "TillDb",
    "TillDbCorrupt",
    "Uploader",
    "UploaderBusy",
    "UploaderCounters",
    "UploaderLock",
    "WalStatus",
    "apply_delta",
    "cached_customer",
    "canonical_json",
    "db_group",
    "parse_retry_after",
    "re_enrol",
    "txn_hash",
    "verify_chain",
]
