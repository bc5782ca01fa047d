"""App and head-office keys: made once, kept as a hash, revoked at once everywhere.

Includes two ``ledger serve`` processes on one database (SQLite file or
PostgreSQL) racing the same token and key operations.
"""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from sync.ledger import Ledger, LedgerError
from sync.ledger import _apikeys
from sync.ledger.cli import ledger as ledger_group

from .credentials import app_headers
from .helpers import BUNDLE_TEXT, CARD_A, MEMBERS_CSV, ASGIClient
from .test_server import Server

pytestmark = pytest.mark.timeout(180)


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(ledger_group, list(args))
    assert result.exit_code == code, result.output
    return result.output


def dump(ledger: Ledger) -> str:
    with ledger.storage.transaction() as tx:
        return json.dumps(tx.all("SELECT * FROM api_keys"))


@pytest.mark.parametrize("kind,prefix", [("app", "kpa_"), ("office", "kpo_")])
def test_a_key_is_printed_once_and_only_its_hash_is_stored(
        db_url: str, shop: Ledger, kind: str, prefix: str) -> None:
    key = run(f"{kind}-key", "add", "--db", db_url, "--name", "backend-1").strip()
    assert key.startswith(prefix) and len(key) > 40
    listing = run(f"{kind}-key", "list", "--db", db_url)
    assert listing.startswith("backend-1\t") and "active" in listing and key not in listing
    stored = dump(shop)
    assert key not in stored and key[4:] not in stored


def test_the_app_key_lifecycle_over_http(db_url: str, client: ASGIClient, shop: Ledger) -> None:
    key = run("app-key", "add", "--db", db_url, "--name", "phone").strip()
    headers = {"Authorization": f"Bearer {key}"}
    assert client.post("/v1/tokens", json={"card": CARD_A}, headers=headers).status_code == 200
    assert "exists" in run("app-key", "add", "--db", db_url, "--name", "phone", code=1)
    assert "revoked" in run("app-key", "revoke", "--db", db_url, "phone")
    assert "already revoked" in run("app-key", "revoke", "--db", db_url, "phone")
    assert client.post("/v1/tokens", json={"card": CARD_A}, headers=headers).status_code == 401
    assert "\trevoked " in run("app-key", "list", "--db", db_url)
    again = run("app-key", "add", "--db", db_url, "--name", "phone").strip()
    assert again != key
    assert client.post("/v1/tokens", json={"card": CARD_A}, headers=headers).status_code == 401
    assert client.post("/v1/tokens", json={"card": CARD_A},
                       headers={"Authorization": f"Bearer {again}"}).status_code == 200
    assert "no app key" in run("app-key", "revoke", "--db", db_url, "ghost", code=1)


def test_an_office_key_cannot_be_used_as_an_app_key_of_the_same_name(
        db_url: str, client: ASGIClient, shop: Ledger) -> None:
    office = run("office-key", "add", "--db", db_url, "--name", "same").strip()
    run("app-key", "add", "--db", db_url, "--name", "same")
    resp = client.post("/v1/tokens", json={"card": CARD_A},
                       headers={"Authorization": f"Bearer {office}"})
    assert resp.status_code == 403


@pytest.mark.parametrize("name", ["", " ", "a\x00b", "tab\there", "x" * 65])
def test_a_key_name_that_is_empty_long_or_has_control_characters_is_refused(
        db_url: str, shop: Ledger, name: str) -> None:
    out = run("app-key", "add", "--db", db_url, "--name", name, code=1)
    assert out.startswith("Error: invalid") and "Traceback" not in out
    assert dump(shop) == "[]"


def test_two_connections_adding_the_same_name_at_once_make_one_key(db_url: str,
                                                                   shop: Ledger) -> None:
    others = [Ledger(db_url) for _ in range(4)]
    barrier = threading.Barrier(len(others))

    def add(led: Ledger) -> str:
        barrier.wait()
        try:
            with led.storage.transaction() as tx:
                return _apikeys.add(tx, "app", "race", led.now_text())
        except LedgerError as exc:
            return exc.reason

    try:
        with ThreadPoolExecutor(len(others)) as pool:
            answers = list(pool.map(add, others))
    finally:
        for led in others:
            led.close()
    keys = [a for a in answers if a.startswith("kpa_")]
    assert len(keys) == 1 and sorted(set(answers) - set(keys)) == ["key_exists"]
    with shop.storage.transaction() as tx:
        assert _apikeys.authenticate(tx, keys[0]) == _apikeys.Principal("app", "race")


def test_two_servers_on_one_database_issue_tokens_and_see_a_revocation_at_once(
        db_url: str, tmp_path: Path) -> None:
    led = Ledger(db_url)
    led.import_bundle(BUNDLE_TEXT)
    led.import_members(MEMBERS_CSV)
    led.close()
    key = run("app-key", "add", "--db", db_url, "--name", "phone").strip()
    headers = {"Authorization": f"Bearer {key}"}
    servers = [Server(db_url, tmp_path / f"serve{i}.log") for i in range(2)]
    try:
        def token(i: int) -> httpx.Response:
            return httpx.post(servers[i % 2].url + "/v1/tokens", json={"card": CARD_A},
                              headers=headers, timeout=30)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(token, range(40)))
        assert {r.status_code for r in answers} == {200}
        jtis = {json.loads(_claims(r.json()["token"]))["jti"] for r in answers}
        assert len(jtis) == 40
        run("app-key", "revoke", "--db", db_url, "phone")
        for i in range(2):
            assert token(i).status_code == 401
    finally:
        for s in servers:
            s.stop()


def _claims(token: str) -> str:
    import base64

    body = token.split(".")[1]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def test_an_office_key_reads_customers_and_the_bundle_but_not_tokens(
        client: ASGIClient, shop: Ledger) -> None:
    from .credentials import office_headers

    office = office_headers(shop)
    assert client.get(f"/v1/customers/{CARD_A}", headers=office).json()["account"] == "A-77"
    assert client.get("/v1/bundle", headers=office).json()["kind"] == "full"
    assert client.post("/v1/tokens", json={"card": CARD_A}, headers=office).status_code == 403


def test_the_openapi_document_names_the_key_each_endpoint_needs(client: ASGIClient) -> None:
    doc = client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert set(schemes) == {"tillKey", "appKey", "officeKey"}
    paths = doc["paths"]
    assert paths["/v1/tokens"]["post"]["security"] == [{"appKey": []}]
    assert paths["/v1/transactions"]["post"]["security"] == [{"tillKey": []}]
    for path, ops in paths.items():
        if path.startswith("/v1/ledger/"):
            security = ops["get"]["security"]
            assert {"officeKey": []} in security, path
            assert ({"tillKey": []} in security) == ("/accounts/" not in path
                                                    and "/cards/" not in path), path
            assert "403" in ops["get"]["responses"] and "401" in ops["get"]["responses"]


def test_a_token_for_an_account_below_zero_still_identifies_it_with_bal_and_cap_0(
        client: ASGIClient, shop: Ledger) -> None:
    shop.adjust("A-77", -700, note="offline overdraft")
    resp = client.post("/v1/tokens", json={"card": CARD_A}, headers=app_headers(shop))
    assert resp.status_code == 200, resp.text
    claims = json.loads(_claims(resp.json()["token"]))
    assert (claims["sub"], claims["acc"], claims["bal"], claims["cap"]) == (CARD_A, "A-77", 0, 0)
