"""The favourite category the customer chooses in the app (issue 12, item 5), both backends.

Through a real ``kopilka ledger serve`` (one or two worker processes) where
the answer depends on the server, and through the app in process with a
hand-moved clock where it depends on the 30 days.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.ledger import Ledger
from sync.ledger._clock import parse_utc_text

from .conftest import FakeClock
from .credentials import app_headers, office_headers
from .helpers import BUNDLE, CARD_A, CARD_B, CARD_C, MEMBERS_CSV, ASGIClient, TillSim
from .test_races import race
from .test_serve_workers import wait_until, workers_of
from .test_server import Server

pytestmark = pytest.mark.timeout(240)

CHOICES = ["dairy", "bakery", "drinks/coffee"]


def bundle_text(**program: Any) -> str:
    body = json.loads(json.dumps(BUNDLE))
    body["program"].update({"favorite_categories": CHOICES, **program})
    return json.dumps(body)


def token_claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims


def prepare(db_url: str) -> tuple[dict[str, str], TillSim, dict[str, str]]:
    """Bundle with a favourites list, the example members, a till, an app and an office key."""
    with Ledger(db_url) as led:
        led.customer_refresh_s = 0
        led.import_bundle(bundle_text(customer_cache="all"))  # every member at every till
        led.import_members(MEMBERS_CSV)
        till = TillSim("KY-001-01", "KY-001", led.add_till("KY-001", "KY-001-01"))
        return app_headers(led), till, office_headers(led)


@pytest.fixture
def served(db_url: str, tmp_path: Path
           ) -> Iterator[tuple[Server, dict[str, str], TillSim, dict[str, str]]]:
    app, till, office = prepare(db_url)
    server = Server(db_url, tmp_path / "ledger.log")
    try:
        yield server, app, till, office
    finally:
        server.kill()


def put(server: Server, headers: dict[str, str], account: str, body: Any) -> httpx.Response:
    return httpx.put(f"{server.url}/v1/accounts/{account}/favourite", headers=headers,
                     content=json.dumps(body), timeout=60)


def test_a_chosen_favourite_reaches_the_next_token_the_store_cache_and_the_statement(
        served: tuple[Server, dict[str, str], TillSim, dict[str, str]]) -> None:
    server, app, till, office = served
    first = httpx.get(f"{server.url}/v1/bundle?since=1&customers=", headers=till.headers)
    cursor = first.json()["customers"]["cursor"]
    shown = httpx.get(f"{server.url}/v1/accounts/B-01/favourite", headers=app).json()
    assert shown["category"] is None and shown["choices"] == CHOICES and shown["history"] == []

    resp = put(server, app, "B-01", {"category": "drinks/coffee"})
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["category"] == "drinks/coffee"
    assert (parse_utc_text(answer["next_change_at"]) - parse_utc_text(answer["changed_at"])
            == timedelta(days=30))

    token = httpx.post(f"{server.url}/v1/tokens", headers=app, json={"card": CARD_C}).json()
    assert token_claims(token["token"])["fav"] == {"cat": "drinks/coffee"}

    delta = httpx.get(f"{server.url}/v1/bundle?since=1&customers={cursor}",
                      headers=till.headers).json()["customers"]
    rows = {r[0]: dict(zip(delta["fields"], r, strict=True)) for r in delta["upsert"]}
    assert rows[CARD_C]["favorite_category"] == "drinks/coffee"
    assert rows[CARD_C]["favorite_until"] is None

    statement = httpx.get(f"{server.url}/v1/ledger/accounts/B-01/statement",
                          headers=office).json()
    assert [(f["category"], f["previous"], f["by"]) for f in statement["favourite"]] == [
        ("drinks/coffee", None, "app:app")]
    assert sum(e["points"] for e in statement["entries"]) == statement["balance"]


def test_a_family_account_changes_every_card_and_a_second_change_within_30_days_is_409(
        served: tuple[Server, dict[str, str], TillSim, dict[str, str]]) -> None:
    server, app, _, _ = served
    assert put(server, app, "A-77", {"category": "bakery"}).status_code == 200
    for card in (CARD_A, CARD_B):
        token = httpx.post(f"{server.url}/v1/tokens", headers=app, json={"card": card}).json()
        assert token_claims(token["token"])["fav"] == {"cat": "bakery"}
    again = put(server, app, "A-77", {"category": "dairy"})
    assert again.status_code == 409
    body = again.json()
    assert body["error"] == "favourite_too_soon"
    assert body["next_change_at"][:10] in body["detail"]
    shown = httpx.get(f"{server.url}/v1/accounts/A-77/favourite", headers=app).json()
    assert shown["category"] == "bakery" and len(shown["history"]) == 1
    assert shown["history"][0]["previous"] == "dairy"  # head office's choice from the CSV


def test_wrong_requests_get_a_specific_answer_and_change_nothing(
        served: tuple[Server, dict[str, str], TillSim, dict[str, str]]) -> None:
    server, app, till, office = served
    cases: list[tuple[dict[str, str], str, Any, int, str, str]] = [
        (app, "B-01", {"category": "alcohol"}, 400, "invalid", "category"),
        (app, "B-01", {"category": "dairy/milk"}, 400, "invalid", "category"),
        (app, "NOBODY", {"category": "dairy"}, 404, "unknown_account", "account"),
        (till.headers, "B-01", {"category": "dairy"}, 403, "forbidden", ""),
        (office, "B-01", {"category": "dairy"}, 403, "forbidden", ""),
        ({}, "B-01", {"category": "dairy"}, 401, "unauthorized", ""),
    ]
    hostile = [5, None, True, 2**63, -(2**63), 1.5, "dai\x00ry", "dairy\x07", "dairy\n",
               "x" * 10240, "", {"a": {"b": {"c": 1}}}, ["dairy"]]
    cases += [(app, "B-01", {"category": h}, 400, "invalid", "category") for h in hostile]
    cases += [(app, "B-01", {}, 400, "invalid", "category"),
              (app, "B-01", ["dairy"], 400, "invalid", ""),
              (app, "B-01", {"category": "dairy", "by": "hq"}, 400, "invalid", "")]
    for headers, account, body, status, reason, field in cases:
        resp = put(server, headers, account, body)
        assert resp.status_code == status, (body, resp.text)
        assert resp.json()["error"] == reason, (body, resp.text)
        if field:
            assert resp.json().get("field") == field, (body, resp.text)
    long_account = put(server, app, "A" * 10240, {"category": "dairy"})
    assert long_account.status_code == 400 and long_account.json()["field"] == "account"
    assert httpx.get(f"{server.url}/v1/accounts/B-01/favourite",
                     headers=till.headers).status_code == 403
    shown = httpx.get(f"{server.url}/v1/accounts/B-01/favourite", headers=app).json()
    assert shown["category"] is None and shown["history"] == []


def test_the_same_change_sent_twice_at_once_to_two_workers_is_recorded_once(
        db_url: str, tmp_path: Path) -> None:
    app, _, office = prepare(db_url)
    server = Server(db_url, tmp_path / "ledger.log", "--workers", "2")
    try:
        wait_until("both workers run", lambda: len(workers_of(server.proc.pid)) == 2)
        for account in ("A-77", "B-01"):
            answers = race([lambda a=account: put(server, app, a, {"category": "dairy"}),
                            lambda a=account: put(server, app, a, {"category": "dairy"})])
            assert sorted(r.status_code for r in answers) == [200, 409], [
                r.text for r in answers]
            statement = httpx.get(f"{server.url}/v1/ledger/accounts/{account}/statement",
                                  headers=office).json()
            assert len(statement["favourite"]) == 1
    finally:
        pids = workers_of(server.proc.pid)
        server.kill()
        wait_until("the workers stop with their parent",
                   lambda: not any(Path(f"/proc/{p}").exists() for p in pids))


@pytest.fixture
def app_client(ledger: Ledger, client: ASGIClient) -> tuple[ASGIClient, dict[str, str]]:
    ledger.import_bundle(bundle_text(favorite_change_days=7))
    ledger.import_members(MEMBERS_CSV)
    return client, app_headers(ledger)


def test_the_programme_sets_the_days_between_changes(
        app_client: tuple[ASGIClient, dict[str, str]], clock: FakeClock) -> None:
    client, app = app_client
    path = "/v1/accounts/B-01/favourite"
    assert client.request("PUT", path, headers=app, json={"category": "dairy"}).status_code == 200
    clock.advance(days=6, hours=23)
    early = client.request("PUT", path, headers=app, json={"category": "bakery"})
    assert early.status_code == 409
    assert early.json()["next_change_at"] == "2026-11-29T07:00:00.000000Z"
    clock.advance(hours=1)
    later = client.request("PUT", path, headers=app, json={"category": "bakery"})
    assert later.status_code == 200, later.text
    assert [h["category"] for h in later.json()["history"]] == ["dairy", "bakery"]
    assert later.json()["history"][1]["previous"] == "dairy"


def test_without_a_programme_list_no_category_can_be_chosen(
        ledger: Ledger, client: ASGIClient) -> None:
    ledger.import_bundle(json.dumps(BUNDLE))
    ledger.import_members(MEMBERS_CSV)
    resp = client.request("PUT", "/v1/accounts/B-01/favourite", headers=app_headers(ledger),
                      json={"category": "dairy"})
    assert resp.status_code == 400 and resp.json()["field"] == "category"
    assert "none offered" in resp.json()["detail"]


def test_support_staff_show_and_set_the_favourite_from_the_command_line(
        ledger: Ledger) -> None:
    from click.testing import CliRunner

    from sync.ledger.cli import ledger as ledger_group

    ledger.import_bundle(bundle_text())
    ledger.import_members(MEMBERS_CSV)
    db = ["--db", ledger.storage.url]

    def run(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(ledger_group, ["favourite", *args, *db])
        assert result.exit_code == code, result.output
        return result.output

    shown = json.loads(run("show", "B-01"))
    assert shown["category"] is None and shown["choices"] == CHOICES
    assert json.loads(run("set", "--by", "anna", "B-01", "bakery"))["category"] == "bakery"
    assert "favourite_too_soon" in run("set", "--by", "anna", "B-01", "dairy", code=1)
    assert "category" in run("set", "--by", "anna", "B-01", "alcohol", code=1)
    assert "unknown_account" in run("show", "NOBODY", code=1)
    changed = json.loads(run("set", "--by", "anna", "--anytime", "B-01", "dairy"))
    assert [(h["category"], h["by"]) for h in changed["history"]] == [
        ("bakery", "support:anna"), ("dairy", "support:anna")]
    statement = CliRunner().invoke(ledger_group, ["statement", *db, "B-01"])
    assert "favourite dairy (was bakery)" in statement.output
