"""Both ends of the till ⇄ ledger protocol (docs/sync-protocol.md)."""
from __future__ import annotations

from ._backoff import Backoff, parse_retry_after
from ._worker import BackgroundLoop
from ._customercache import cached_customer
from ._dbcli import db_group
from ._enrol import EnrolReport, re_enrol
from ._errors import (
    CLI_ANSWERS,
    BalanceOutOfBounds,
    BundleImportError,
    BundleRefused,
    Conflict,
    DbInspectError,
    LedgerError,
    MemberImportError,
    OutboxError,
    RequestError,
    ReturnRefused,
    ScopeError,
    StorageError,
    SyncError,
    TillDbCorrupt,
    TxnInvalid,
    TxnRefused,
    UploaderBusy,
    cli_answer,
    cli_error,
)
from ._hashchain import GENESIS, canonical_json, txn_hash, verify_chain
from ._holds import CardLookup, HoldClient, HoldOutcome
from ._lease import UploaderLock
from ._migrate import Record as MigrationRecord
from ._migrate import run_migrations
from ._outbox import AckCounts, Outbox, OutboxRow, OutboxStatus, ReEnrolment
from ._promocache import PromoCache
from ._provisional import PROVISIONAL_PREFIX, is_provisional, provisional_account
from ._puller import BundlePuller, PullOutcome
from ._tilldb import TillDb, WalStatus
from ._uploader import SyncReport, Uploader, UploaderCounters

__all__: list[str] = [
    "AckCounts",
    "BackgroundLoop",
    "Backoff",
    "BalanceOutOfBounds",
    "BundleImportError",
    "BundlePuller",
    "BundleRefused",
    "CLI_ANSWERS",
    "CardLookup",
    "Conflict",
    "DbInspectError",
    "EnrolReport",
    "GENESIS",
    "HoldClient",
    "HoldOutcome",
    "LedgerError",
    "MemberImportError",
    "MigrationRecord",
    "Outbox",
    "OutboxError",
    "OutboxRow",
    "OutboxStatus",
    "PROVISIONAL_PREFIX",
    "PromoCache",
    "PullOutcome",
    "ReEnrolment",
    "RequestError",
    "ReturnRefused",
    "ScopeError",
    "StorageError",
    "SyncError",
    "SyncReport",
    "TillDb",
    "TillDbCorrupt",
    "TxnInvalid",
    "TxnRefused",
    "Uploader",
    "UploaderBusy",
    "UploaderCounters",
    "UploaderLock",
    "WalStatus",
    "cached_customer",
    "canonical_json",
    "cli_answer",
    "cli_error",
    "db_group",
    "is_provisional",
    "parse_retry_after",
    "provisional_account",
    "re_enrol",
    "run_migrations",
    "txn_hash",
    "verify_chain",
]
