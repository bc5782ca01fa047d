"""The bundle puller against the real ledger on 127.0.0.1 (SQLite backend)."""
from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync import BundlePuller, PromoCache, TillDb

from .ledger_server import ROOT, LedgerServer, ledger_available

pytestmark = pytest.mark.skipif(not ledger_available(), reason="sync.ledger is not available")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LedgerServer]:
    srv = LedgerServer("sqlite", tmp_path)  # holds examples/bundle.json as version 1
    yield srv
    srv.close()


def basket() -> dict[str, Any]:
    return dict(json.loads((ROOT / "examples" / "basket.json").read_text("utf-8")))


def test_full_then_a_delta_deleting_a_promotion_in_force_swaps_the_engine(server: LedgerServer,
                                                                           tmp_path: Path) -> None:
    swaps: list[int] = []
    with TillDb(tmp_path / "till.db") as db:
        cache = PromoCache(db)
        with BundlePuller(cache, base_url=server.base_url, key=server.key,
                          on_engine=lambda e, v: swaps.append(v)) as puller:
            assert puller.pull_once().kind == "full"
            v1 = cache.version
            before = cache.engine.price(basket()).to_json()
            used = {p for line in before["lines"] for p in line["promos"]}
            assert used
            gone = sorted(used)[0]
            bundle = copy.deepcopy(cache.bundle)
            assert bundle is not None
            bundle["promotions"] = [p for p in bundle["promotions"] if p["id"] != gone]
            with server.ledger() as led:
                led.import_bundle(json.dumps(bundle))
            out = puller.pull_once()
            assert out.kind == "delta" and out.version is not None and out.version > (v1 or 0)
            after = cache.engine.price(basket()).to_json()
            assert gone not in {p for line in after["lines"] for p in line["promos"]}
            assert puller.pull_once().kind == "none"
        assert swaps == [v1, out.version]
    with TillDb(tmp_path / "till.db") as db:  # the new bundle survives a restart
        assert PromoCache(db).version == out.version
