"""Secrets stay secret: the ledger file is 0600, card numbers never reach a log line.

The log tests run a real ``kopilka ledger serve`` (uvicorn, access log on)
on each backend and read what it wrote.
"""
from __future__ import annotations

import logging
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sync.ledger import Ledger, add_key
from sync.ledger._logs import MaskFilter, mask

from .helpers import BUNDLE_TEXT, CARD_A, MEMBERS_CSV
from .test_server import Server

pytestmark = pytest.mark.timeout(180)


def modes(directory: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()}


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077], ids=oct)
def test_a_new_sqlite_ledger_and_its_wal_and_shm_are_0600_whatever_the_umask(
        tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        led = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
        led.add_till("S1", "T1")
        led.rotate_keys()
        files = modes(tmp_path)
        led.close()
    finally:
        os.umask(old)
    assert set(files) >= {"ledger.db", "ledger.db-wal", "ledger.db-shm"}
    assert set(files.values()) == {0o600}, {k: oct(v) for k, v in files.items()}


def test_an_existing_world_readable_ledger_file_is_tightened_to_0600(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    Ledger(f"sqlite:///{path}").close()
    path.chmod(0o644)
    Ledger(f"sqlite:///{path}").close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_mask_keeps_only_the_last_4_digits_of_a_card_in_any_path() -> None:
    assert mask(f'127.0.0.1:5 - "GET /v1/customers/{CARD_A} HTTP/1.1" 200') == (
        '127.0.0.1:5 - "GET /v1/customers/****3458 HTTP/1.1" 200')
    assert mask("/v1/customers/12345678") == "/v1/customers/****5678"  # not even a card
    assert mask(f"/v1/ledger/cards/{CARD_A}/statement") == (
        "/v1/ledger/cards/****3458/statement")
    assert mask(f"card {CARD_A} in a sentence") == "card ****3458 in a sentence"


def test_the_filter_masks_arguments_and_tracebacks_of_a_record() -> None:
    try:
        raise ValueError(f"bad card {CARD_A}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "card %s at %s",
                                   (CARD_A, 5), sys.exc_info())
    assert MaskFilter().filter(record)
    text = logging.Formatter().format(record)
    assert CARD_A not in text and "****3458" in text and "at 5" in text


@pytest.fixture
def served(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    led = Ledger(db_url)
    led.import_bundle(BUNDLE_TEXT)
    led.import_members(MEMBERS_CSV)
    led.close()
    server = Server(db_url, tmp_path / "serve.log", "--log-level", request.param)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("served", ["debug", "info"], indirect=True)
def test_no_log_line_of_a_serving_ledger_holds_a_card_number(served: Server,
                                                             db_url: str) -> None:
    led = Ledger(db_url)
    app = {"Authorization": f"Bearer {add_key(led, 'app', 'app')}"}
    office = {"Authorization": f"Bearer {add_key(led, 'office', 'hq')}"}
    led.close()
    with httpx.Client(base_url=served.url, timeout=10) as http:
        assert http.get(f"/v1/customers/{CARD_A}", headers=office).status_code == 200
        assert http.post("/v1/tokens", json={"card": CARD_A}, headers=app).status_code == 200
        assert http.get(f"/v1/ledger/cards/{CARD_A}/statement",
                        headers=office).status_code == 200
        assert http.get(f"/v1/customers/{CARD_A[:-1]}0", headers=office).status_code == 400
    text = served.stop()
    assert "/v1/customers/****3458" in text  # the access log line is there, masked
    assert "token issued for card ****3458" in text
    assert CARD_A not in text and CARD_A[:-1] not in text
