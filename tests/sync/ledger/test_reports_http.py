"""``GET /v1/reports/…``: the reports for a head-office key; a till key gets 403."""
from __future__ import annotations

import csv
import json
import io

import pytest

from sync.ledger import Ledger
from sync.ledger._reports import Ask, gather, render

from .credentials import office_headers
from .helpers import MEMBERS_CSV, ASGIClient
from .reportdata import DAYS, Week, coalition_bundle

PERIOD = f"from={DAYS[0]}&to={DAYS[-1]}"


@pytest.fixture
def week(ledger: Ledger, client: ASGIClient, clock) -> Week:
    ledger.import_bundle(coalition_bundle())
    ledger.import_members(MEMBERS_CSV)
    w = Week(ledger, client)
    w.run(clock, DAYS[:2])
    ledger.audit_pending()
    return w


@pytest.mark.parametrize("kind", ["sync", "loyalty", "settlement"])
def test_the_office_key_reads_the_same_json_as_the_command(
        week: Week, ledger: Ledger, client: ASGIClient, kind: str) -> None:
    resp = client.get(f"/v1/reports/{kind}?{PERIOD}", headers=office_headers(ledger))
    assert resp.status_code == 200, resp.text
    want = render(gather(ledger.storage, ledger.clock(), Ask(DAYS[0], DAYS[-1]), kind),
                  kind, "json")
    assert resp.json() == json.loads(want)


def test_a_till_key_gets_403_and_no_key_401(week: Week, client: ASGIClient) -> None:
    till = week.tills["KY-001"][0]
    assert client.get("/v1/reports/loyalty", headers=till.headers).status_code == 403
    assert client.get("/v1/reports/loyalty").status_code == 401


def test_filters_formats_and_bad_queries(week: Week, ledger: Ledger,
                                        client: ASGIClient) -> None:
    hq = office_headers(ledger)
    resp = client.get(f"/v1/reports/loyalty?{PERIOD}&chain=baton&format=csv", headers=hq)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    days = list(csv.DictReader(io.StringIO(resp.text.split("\n\n")[0])))
    assert {r["store"] for r in days} == {"BT-001", ""}  # "" is the total line
    resp = client.get(f"/v1/reports/loyalty?{PERIOD}&format=html", headers=hq)
    assert resp.headers["content-type"].startswith("text/html") and "<svg" in resp.text
    assert "Chain settlement" in resp.text
    for query, field in (("store=NOPE", "store"), ("from=yesterday", "from"),
                         ("from=2026-11-20&to=2026-11-01", "from"), ("format=xml", "format"),
                         ("skew_s=-1", "skew_s")):
        resp = client.get(f"/v1/reports/sync?{query}", headers=hq)
        assert resp.status_code == 400, (query, resp.text)
        assert resp.json()["field"] == field


@pytest.mark.parametrize(("query", "field"), [
    ("skew_s=9223372036854775808", "skew_s"),  # 2^63
    ("silent_hours=1e308", "silent_hours"),
    ("skew_s=-5", "skew_s"),
    ("skew_s=%5B1%5D", "skew_s"),  # a list, as text
    ("store=KY%00001", "store"),  # NUL
    ("chain=kr%1Basyar", "chain"),  # ESC
    ("store=" + "S" * 10_000, "store"),
    ("&".join(["store=KY-001"] * 201), "store"),
    ("from=2026-13-01", "from"),
    ("to=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-01-01", "to"),  # full-width digits
])
def test_hostile_report_queries_are_refused_with_their_field(
        week: Week, ledger: Ledger, client: ASGIClient, query: str, field: str) -> None:
    before = ledger.check()
    resp = client.get(f"/v1/reports/sync?{query}", headers=office_headers(ledger))
    assert resp.status_code == 400, (query, resp.text)
    assert resp.json()["error"] == "invalid" and resp.json()["field"] == field
    assert ledger.check() == before
