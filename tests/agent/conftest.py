"""Fixtures for the agent tests: a real till database, the example bundle
with a real key set and customer cache, and a recording printer port."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from agent_kit import CACHED_CARD, NOW, PROGRAM, Signer

from shop_kit import open_shop

from agent import PrinterFailed
from agent._catalog import Catalog
from agent._till import Till
from sync import TillDb

ROOT = Path(__file__).resolve().parents[2]


class PaperPrinter:
    """A printer port that keeps what it printed; can be switched off."""

    def __init__(self) -> None:
        self.receipts: list[str] = []
        self.broken = False

    def print_receipt(self, job: dict[str, Any]) -> None:
        if self.broken:
            raise PrinterFailed("paper_out", "paper out")
        self.receipts.append(job["text"])


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer()


@pytest.fixture(scope="session")
def bundle_doc(signer: Signer) -> dict[str, Any]:
    doc = json.loads((ROOT / "examples" / "bundle.json").read_text(encoding="utf-8"))
    doc["keys"] = signer.jwks()
    doc["customers"] = [{"card": CACHED_CARD, "account": "A-99", "tier": "base", "segments": [],
                         "offers": [], "birthday": None, "favorite_category": None,
                         "favorite_until": None, "balance": 500, "first_purchase": False}]
    return doc


@pytest.fixture(scope="session")
def catalog(bundle_doc: dict[str, Any]) -> Catalog:
    return Catalog(copy.deepcopy(bundle_doc))


class Clock:
    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def printer() -> PaperPrinter:
    return PaperPrinter()


@pytest.fixture
def make_till(tmp_path: Path, catalog: Catalog, clock: Clock, printer: PaperPrinter) -> Iterator[Any]:
    opened: list[TillDb] = []

    def make(**kw: Any) -> Till:
        db = TillDb(tmp_path / "till.sqlite3", clock=clock)
        opened.append(db)
        kw.setdefault("printer", printer)
        return Till(db, catalog, till="KY-001-01", store="KY-001", program=PROGRAM, clock=clock, **kw)

    yield make
    for db in opened:
        db.close()


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The real ledger, chaos proxy, scanner and printer twins, and a running agent."""
    with open_shop(tmp_path) as parts:
        yield parts

