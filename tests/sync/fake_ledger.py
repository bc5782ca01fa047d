"""A minimal in-memory ledger following docs/sync-protocol.md, for unit tests.

It is a test double of the *protocol* (the real ledger lives in
sync/ledger/ and has its own tests); it answers through
``httpx.MockTransport`` so that the uploader's own logic is exercised
without a server.
"""
from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

import httpx


class FakeLedger:
    """Applies each txn_id once, tracks per-till seqs, can be told to fail."""

    def __init__(self, epoch: str = "e1") -> None:
        self.epoch = epoch
        self.applied: dict[str, dict[str, Any]] = {}  # txn_id -> txn
        self.by_seq: dict[int, str] = {}
        self.reject_txn_ids: set[str] = set()
        self.fail: Callable[[httpx.Request], httpx.Response | None] | None = None
        self.requests: list[httpx.Request] = []
        self.heartbeats: list[dict[str, Any]] = []
        self.apply_count = 0

    @property
    def high_water(self) -> int:
        n = 0
        while n + 1 in self.by_seq:
            n += 1
        return n

    def restore(self, keep_through: int, epoch: str) -> None:
        """Simulate a restore from a backup that holds seqs 1..keep_through."""
        for seq in [s for s in self.by_seq if s > keep_through]:
            self.applied.pop(self.by_seq.pop(seq))
        self.epoch = epoch

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail is not None:
            resp = self.fail(request)
            if resp is not None:
                return resp
        raw = request.read()
        if request.headers.get("content-encoding") == "gzip":
            raw = gzip.decompress(raw)
        if request.url.path == "/v1/heartbeat":
            self.heartbeats.append(json.loads(raw))
            return httpx.Response(200, json={"server_time": "2026-11-22T07:00:00Z", "epoch": self.epoch})
        if request.url.path != "/v1/transactions":
            return httpx.Response(404, json={"error": "not_found"})
        body = json.loads(raw)
        results = []
        for txn in body["transactions"]:
            tid, seq = txn["txn_id"], txn["seq"]
            if tid in self.applied:
                same = self.applied[tid]["hash"] == txn["hash"]
                results.append({"txn_id": tid, "seq": seq, "status": "duplicate" if same else "rejected",
                                **({} if same else {"reason": "txn_id_conflict"})})
            elif tid in self.reject_txn_ids:
                results.append({"txn_id": tid, "seq": seq, "status": "rejected", "reason": "invalid",
                                "detail": "test says so"})
            elif seq in self.by_seq:
                results.append({"txn_id": tid, "seq": seq, "status": "rejected", "reason": "seq_conflict"})
            else:
                self.applied[tid] = txn
                self.by_seq[seq] = tid
                self.apply_count += 1
                results.append({"txn_id": tid, "seq": seq, "status": "accepted"})
        return httpx.Response(200, json={"results": results, "high_water": self.high_water,
                                         "epoch": self.epoch})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)
