"""Gift certificates at the till against a real ledger (HTTP on a real port), on SQLite
and PostgreSQL: sold and activated, spent online against a hold and offline within the
code's ocap, never giving change, never changing the engine's figures, printed."""
from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest
from agent_kit import NOW, PROGRAM, Signer, served_api

from agent import ApiServer
from agent._catalog import Catalog
from agent._certificates import verify_certificate
from agent._errors import CodeRefused, TokenError
from agent._ledger import HoldClientLedger
from agent._printing import DriversPrinter
from agent._receipt import parse_printed
from agent._till import Till
from hardware_sim._escpos_parse import parse_all
from hardware_sim._printer import PrinterTwin
from sync import HoldClient, TillDb
from sync.ledger import Ledger, make_app

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
GC, GC_ONLINE = "2000000000001", "2000000000002"
COFFEE, CHEESE = "4607000000090", "4607000000038"
FLAGS = ["no_discount", "no_accrual", "no_redeem"]


def cert_bundle(doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["catalog"] += [
        {"sku": GC, "name": "Сертификат 1000", "price": 100000, "unit": "pcs", "flags": FLAGS,
         "kind": "certificate", "ocap": 50000},
        {"sku": GC_ONLINE, "name": "Сертификат 500", "price": 50000, "unit": "pcs", "flags": FLAGS,
         "kind": "certificate"}]
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        return
    name = "kopilka_agent_cert_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Shop:
    """A real ledger served on a port, and tills of store KY-001 that reach it (or not)."""

    def __init__(self, url: str, tmp_path: Path, bundle_doc: dict[str, Any], clock: Any) -> None:
        self.ledger = Ledger(url, clock=lambda: datetime.fromtimestamp(clock(), tz=timezone.utc))
        self.doc = cert_bundle(bundle_doc)
        self.version, _ = self.ledger.import_bundle(json.dumps({k: v for k, v in self.doc.items()
                                                                if k not in ("keys", "customers")}))
        self.doc["version"] = self.version
        self.doc["keys"] = {"keys": self.doc["keys"]["keys"] + self.ledger.jwks()["keys"]}
        self.catalog = Catalog(self.doc)
        self.server = ApiServer(make_app(self.ledger), "127.0.0.1", 0).start()
        self.tmp, self.clock = tmp_path, clock
        self.closing: list[Any] = []

    def till(self, name: str = "KY-001-01", *, online: bool = True, printer: Any = None) -> Till:
        key = self.ledger.add_till("KY-001", name)
        db = TillDb(self.tmp / f"{name}.sqlite3", clock=self.clock)
        self.closing.append(db)
        port = None
        if online:
            port = HoldClientLedger(HoldClient(base_url=self.server.url, key=key, till=name, budget_s=5))
            self.closing.append(port)
        till = Till(db, self.catalog, till=name, store="KY-001", program=PROGRAM, clock=self.clock,
                    ledger=port, printer=printer, hold_budget_s=5)
        till.key = key  # type: ignore[attr-defined]
        return till

    def upload(self, till: Till) -> list[dict[str, Any]]:
        import httpx

        rows = [json.loads(r.body) for r in till.outbox.rows()]
        resp = httpx.post(f"{self.server.url}/v1/transactions", timeout=10,
                          headers={"Authorization": f"Bearer {till.key}"},  # type: ignore[attr-defined]
                          json={"till": till.till, "store": till.store, "transactions": rows})
        assert resp.status_code == 200, resp.text
        return list(resp.json()["results"])

    def issue(self, face: int, ocap: int | None = None) -> dict[str, Any]:
        return self.ledger.certificates.issue(face, ocap, 30)

    def close(self) -> None:
        for x in self.closing:
            x.close()
        self.server.stop()
        self.ledger.close()


@pytest.fixture
def shop(ledger_url: str, tmp_path: Path, bundle_doc: dict[str, Any], clock: Any) -> Iterator[Shop]:
    s = Shop(ledger_url, tmp_path, bundle_doc, clock)
    yield s
    s.close()


def basket(till: Till, *lines: tuple[str, int]) -> str:
    s = till.open_session()
    for sku, qty in lines:
        till.add_line(s.id, sku, qty)
    return s.id


def test_a_certificate_sold_at_the_till_is_activated_when_its_sale_reaches_the_ledger(shop: Shop) -> None:
    till = shop.till()
    sid = basket(till, (GC, 2))
    s = till.pay(sid)
    sold = till.outbox.rows()[0].txn["certificates"]["sold"]
    assert [c["face"] for c in sold] == [100000, 100000] and len({c["cert_id"] for c in sold}) == 2
    assert s.result["totals"]["points"] == 0 and s.result["totals"]["discount"] == 0
    assert [r["status"] for r in shop.upload(till)] == ["accepted"]
    for c in sold:
        found = shop.ledger.certificates.show(c["cert_id"])
        assert (found["balance"], found["ocap"], found["till"]) == (100000, 50000, till.till)
    # its number (printed on the receipt) pays at any till that reaches the ledger
    other = shop.till("KY-001-02")
    sid = basket(other, (COFFEE, 1))
    s = other.tender(sid, f"KPC-{sold[0]['cert_id']}")
    assert s.tenders[0]["mode"] == "online" and s.tenders[0]["amount"] == s.result["totals"]["paid"]


def test_spent_partly_online_then_the_rest_in_a_second_sale_with_no_change_given(shop: Shop) -> None:
    cert = shop.issue(100000)
    till = shop.till()
    sid = basket(till, (CHEESE, 1))
    due = till.get(sid).result["totals"]["paid"]
    s = till.tender(sid, cert["code"])
    assert s.tenders == [{"cert_id": cert["cert_id"], "amount": due, "mode": "online",
                          "hold_id": s.tenders[0]["hold_id"], "remaining": 100000 - due}]
    s = till.pay(sid)
    assert s.payment == {"method": "cash", "amount": 0}
    sid = basket(till, (CHEESE, 4), (COFFEE, 3))
    big = till.get(sid).result["totals"]["paid"]
    assert big > 100000 - due
    s = till.tender(sid, cert["code"])
    assert s.tenders[0]["amount"] == 100000 - due and s.tenders[0]["remaining"] == 0
    s = till.pay(sid, "card")
    assert s.payment == {"method": "card", "amount": big - (100000 - due)}
    assert [r["status"] for r in shop.upload(till)] == ["accepted", "accepted"]
    assert shop.ledger.certificates.show(cert["cert_id"])["balance"] == 0
    assert shop.ledger.check() == []
    sid = basket(till, (COFFEE, 1))
    with pytest.raises(CodeRefused) as spent:
        till.tender(sid, cert["code"])
    assert spent.value.reason == "certificate_spent"


def test_a_certificate_pays_at_most_what_is_due_even_after_the_basket_shrinks(shop: Shop) -> None:
    cert = shop.issue(100000)
    till = shop.till()
    sid = basket(till, (CHEESE, 2), (COFFEE, 1))
    till.tender(sid, cert["code"])
    till.void_line(sid, 0)
    s = till.pay(sid)
    assert s.tenders[0]["amount"] == s.result["totals"]["paid"] and s.payment["amount"] == 0
    txn = till.outbox.rows()[0].txn
    assert txn["certificates"]["tenders"][0]["amount"] == txn["result"]["totals"]["paid"]
    assert till.tenders.used_here(cert["cert_id"]) == txn["result"]["totals"]["paid"]


def test_the_engine_figures_are_the_same_with_and_without_a_certificate(shop: Shop) -> None:
    cert = shop.issue(100000)
    till = shop.till()
    plain = till.get(basket(till, (CHEESE, 2), (COFFEE, 1))).result
    till.cancel(till.current().id)  # type: ignore[union-attr]
    sid = basket(till, (CHEESE, 2), (COFFEE, 1))
    s = till.tender(sid, cert["code"])
    assert s.result == plain
    s = till.pay(sid)
    assert till.outbox.rows()[0].txn["result"] == plain


def test_offline_a_code_with_ocap_pays_within_it_then_refuses_and_without_ocap_refuses(shop: Shop) -> None:
    with_cap = shop.issue(100000, ocap=30000)
    without = shop.issue(100000)
    till = shop.till(online=False)
    sid = basket(till, (CHEESE, 4))
    s = till.tender(sid, with_cap["code"])
    assert s.tenders == [{"cert_id": with_cap["cert_id"], "amount": 30000, "mode": "offline"}]
    s = till.pay(sid)
    assert s.payment["amount"] == s.result["totals"]["paid"] - 30000
    sid = basket(till, (COFFEE, 1))
    for code, reason in ((with_cap["code"], "certificate_offline_cap"),
                         (without["code"], "certificate_online_only"),
                         (f"KPC-{without['cert_id']}", "certificate_online_only")):
        with pytest.raises(CodeRefused) as refused:
            till.tender(sid, code)
        assert refused.value.reason == reason
    assert till.get(sid).tenders == []


def test_the_same_certificate_offline_at_two_tills_is_flagged_and_never_below_zero(shop: Shop) -> None:
    cert = shop.issue(60000, ocap=50000)
    a, b = shop.till("KY-001-01", online=False), shop.till("KY-001-02", online=False)
    for till in (a, b):
        sid = basket(till, (CHEESE, 4))
        assert till.tender(sid, cert["code"]).tenders[0]["amount"] == 50000
        till.pay(sid)
    assert shop.upload(a)[0]["status"] == "accepted" and shop.upload(b)[0]["status"] == "accepted"
    found = shop.ledger.certificates.show(cert["cert_id"])
    assert found["balance"] == 0
    assert sorted(e["shortfall"] for e in found["entries"]) == [0, 0, 40000]
    assert shop.ledger.check() == []
    from sync.ledger import _certflags, _scope  # noqa: PLC0415 - reading the flag as the report does
    with shop.ledger.storage.transaction() as tx:
        scope = _scope.scope(tx, shop.ledger.clock(), None, None, [], [])
        flags = _certflags.double_use(tx, scope)
    assert {f.till for f in flags} == {"KY-001-01", "KY-001-02"} and sum(f.value for f in flags) == 40000


def make_code(signer: Signer, header: dict[str, Any] | None = None, **claims: Any) -> str:
    hdr = header or {"alg": "EdDSA", "kid": signer.kid, "typ": "kopilka-cert+jwt"}
    body = {"iss": PROGRAM, "cid": "c" * 32, "face": 1000, "ocap": 500, "iat": NOW, "exp": NOW + 3600}
    body.update(claims)
    return signer.raw(json.dumps(hdr), json.dumps({k: v for k, v in body.items() if v is not ...}))


@pytest.mark.parametrize("code, reason", [
    ("forged", "bad_signature"), ("unknown_kid", "unknown_key"), ("expired", "expired"),
    ("future", "not_yet_valid"), ("other_programme", "wrong_program"), ("token", "not_a_certificate"),
    ("typ", "malformed"), ("alg", "malformed"), ("ocap_above_face", "malformed"), ("no_face", "malformed"),
    ("face_2_63", "ok"), ("nul", "malformed"), ("float_face", "malformed"), ("bool_face", "malformed"),
])
def test_certificate_codes_are_checked_in_token_mds_order_with_its_reasons(
        signer: Signer, code: str, reason: str) -> None:
    from agent._token import KeySet

    keys = KeySet.from_jwks(signer.jwks())
    made = {
        "forged": make_code(signer)[:-4] + "AAAA",
        "unknown_kid": make_code(signer, {"alg": "EdDSA", "kid": "nope", "typ": "kopilka-cert+jwt"}),
        "expired": make_code(signer, exp=NOW - 31), "future": make_code(signer, iat=NOW + 121),
        "other_programme": make_code(signer, iss="other"), "token": signer.token(),
        "typ": make_code(signer, {"alg": "EdDSA", "kid": signer.kid, "typ": "JWT"}),
        "alg": make_code(signer, {"alg": "none", "kid": signer.kid, "typ": "kopilka-cert+jwt"}),
        "ocap_above_face": make_code(signer, ocap=1001), "no_face": make_code(signer, face=...),
        "face_2_63": make_code(signer, face=2**63, ocap=...), "nul": make_code(signer, cid="c\x00" * 8),
        "float_face": make_code(signer, face=1e308), "bool_face": make_code(signer, face=True),
    }[code]
    if reason == "ok":
        assert verify_certificate(made, keys, now=NOW, program=PROGRAM).face == 2**63
        return
    with pytest.raises(TokenError) as refused:
        verify_certificate(made, keys, now=NOW, program=PROGRAM)
    assert refused.value.reason == reason


def test_a_certificate_code_is_not_a_customer_and_a_customer_token_is_not_a_certificate(
        shop: Shop, signer: Signer) -> None:
    cert = shop.issue(1000)
    till = shop.till()
    sid = basket(till, (COFFEE, 1))
    routed, s = till.scan(sid, cert["code"])
    assert routed.kind == "certificate" and s is not None and s.customer is None and s.tenders
    with pytest.raises(TokenError) as as_customer:
        till.identify(sid, cert["code"])
    assert as_customer.value.reason == "malformed"
    with pytest.raises(CodeRefused) as as_cert:
        till.tender(sid, signer.token())
    assert as_cert.value.reason == "not_a_certificate"


def test_the_printed_receipt_shows_the_tender_and_what_is_left_and_a_sold_certificate(shop: Shop) -> None:
    twin = PrinterTwin(port=0, render_png=False, columns=48).start()
    port = DriversPrinter(f"tcp://127.0.0.1:{twin.port}", columns=48)
    try:
        cert = shop.issue(100000)
        till = shop.till(printer=port)
        sid = basket(till, (CHEESE, 1), (GC_ONLINE, 1))
        s = till.tender(sid, cert["code"])
        paid = s.result["totals"]["paid"]
        till.pay(sid, "card")
        assert twin.wait_for_receipts(1)
        printed = twin.receipts[0]
    finally:
        port.close()
        twin.stop()
    sold = till.outbox.rows()[0].txn["certificates"]["sold"][0]["cert_id"]
    rows = [r.strip() for r in printed.text.splitlines()]
    tender = next(r for r in rows if r.startswith("Сертификатом"))
    assert tender.split()[1] == "*" + cert["cert_id"][-4:]
    assert tender.split()[-1] == f"-{min(paid, 100000) // 100}.{min(paid, 100000) % 100:02d}"
    left = next(r for r in rows if r.startswith("Остаток на сертификате")).split()[-1]
    assert left == f"{(100000 - min(paid, 100000)) // 100}.{(100000 - min(paid, 100000)) % 100:02d}"
    got = parse_printed(printed.text)
    assert got["totals"]["total"] == paid  # the engine's total, unchanged by the tender
    assert f"KPC-{sold}" in printed.text.replace("\n", "") and "Подарочный сертификат" in printed.text
    # printed online: its QR is the signed code (pending on the ledger until the sale arrives)
    code = next(q for q in printed.qrs if q.count(".") == 2)
    assert verify_certificate(code, till.catalog.keys, now=till.clock(), program=PROGRAM).cert_id == sold
    assert [op for op in parse_all(printed.raw) if op.name == "unknown"] == []


@pytest.mark.parametrize("body, status, error", [
    ({"code": 2**63}, 400, "bad_request"), ({"code": 1e308}, 400, "bad_request"),
    ({"code": -1}, 400, "bad_request"), ({"code": 0}, 400, "bad_request"),
    ({"code": "x" * 10_000}, 400, "bad_request"), ({"code": {"a": {"b": []}}}, 400, "bad_request"),
    ({}, 400, "bad_request"), ({"code": "\x00"}, 422, "malformed"),
    ({"code": "KPC-" + "0" * 31 + "\x1b"}, 422, "malformed"),
    ({"code": "a.b.c"}, 422, "malformed"),
])
def test_hostile_bodies_on_the_certificates_endpoint_are_refused_and_change_nothing(
        make_till: Any, body: dict[str, Any], status: int, error: str) -> None:
    till = make_till()
    with served_api(till) as client:
        s = client.post("/v1/sessions").json()
        client.post(f"/v1/sessions/{s['id']}/lines", json={"sku": COFFEE})
        resp = client.post(f"/v1/sessions/{s['id']}/certificates", json=body)
        assert (resp.status_code, resp.json()["error"]) == (status, error)
        assert client.get(f"/v1/sessions/{s['id']}").json()["tenders"] == []
        assert client.post("/v1/sessions/nope/certificates", json={"code": "a.b.c"}).status_code == 404


def test_a_cancelled_sale_gives_its_certificate_hold_back(shop: Shop) -> None:
    cert = shop.issue(100000)
    till = shop.till()
    sid = basket(till, (CHEESE, 1))
    till.tender(sid, cert["code"])
    assert shop.ledger.certificates.show(cert["cert_id"])["held"] > 0
    till.cancel(sid)
    assert shop.ledger.certificates.show(cert["cert_id"])["held"] == 0


def test_offline_the_receipt_says_the_balance_is_confirmed_later(shop: Shop, printer: Any) -> None:
    cert = shop.issue(100000, ocap=1000)
    till = shop.till(online=False, printer=printer)
    sid = basket(till, (CHEESE, 1))
    till.tender(sid, cert["code"])
    till.pay(sid, "cash")
    text = printer.receipts[0]
    assert "Остаток подтвердит центр" in text and "Остаток на сертификате" not in text
    rows = [r.strip() for r in text.splitlines()]
    cash = next(r for r in rows if r.startswith("Наличными")).split()[-1]
    paid = till.outbox.rows()[0].txn["result"]["totals"]["paid"]
    assert cash == f"{(paid - 1000) // 100}.{(paid - 1000) % 100:02d}"


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_the_cashier_page_has_words_for_every_certificate_refusal(lang: str) -> None:
    from agent._certificates import MESSAGES
    from agent._i18n import texts

    assert set(MESSAGES) <= set(texts(lang)["reasons"])


def test_a_sold_certificate_is_not_returned_for_cash_but_the_goods_beside_it_are(shop: Shop) -> None:
    from agent import make_return
    from agent._errors import ReturnError

    till = shop.till()
    sid = basket(till, (CHEESE, 1), (GC, 1))
    s = till.pay(sid)
    gc_line = next(i for i, ln in enumerate(s.result["lines"]) if ln["sku"] == GC)
    with pytest.raises(ReturnError) as refused:
        make_return(till, str(s.receipt_id), [{"line": gc_line, "qty": 1}])
    assert refused.value.reason == "certificate_not_returnable"
    assert len(till.outbox.rows()) == 1
    ret = make_return(till, str(s.receipt_id), [{"line": 1 - gc_line, "qty": 1}])
    assert ret["totals"]["refund"] > 0


def test_the_code_printed_at_the_sale_pays_once_the_sale_reached_the_ledger(shop: Shop, printer: Any) -> None:
    seller = shop.till(printer=printer)
    s = seller.pay(basket(seller, (GC, 1)))
    code = next(ln.split("[qr: ", 1)[1].rstrip("]") for ln in printer.receipts[0].splitlines()
                if ln.startswith("[qr: ") and ln.count(".") == 2)
    cert_id = seller.outbox.rows()[0].txn["certificates"]["sold"][0]["cert_id"]
    assert shop.ledger.certificates.show(cert_id)["state"] == "pending" and s.receipt_id
    buyer = shop.till("KY-001-02")
    sid = basket(buyer, (COFFEE, 1))
    with pytest.raises(CodeRefused) as early:
        buyer.tender(sid, code)
    assert early.value.reason == "certificate_not_active"
    shop.upload(seller)
    assert buyer.tender(sid, code).tenders[0]["mode"] == "online"


def test_a_certificate_is_found_in_the_engines_own_items_as_a_started_till_reads_them(
        bundle_doc: dict[str, Any]) -> None:
    # a till started from its promo cache has no catalog dicts: its items are the engine's
    # (agent._catalog.ItemView), whose certificate field is fastcore's CertificateKind
    import fastcore
    from agent._catalog import ItemView
    from agent._certificates import certificate_item

    doc = cert_bundle(bundle_doc)
    engine = fastcore.Engine(fastcore.load_bundle(doc))
    catalog = Catalog({k: v for k, v in doc.items() if k != "catalog"}, engine=engine)
    assert isinstance(catalog.items, ItemView)
    assert certificate_item(catalog, GC) == (100000, 50000)
    assert certificate_item(catalog, GC_ONLINE) == (50000, None)
    assert certificate_item(catalog, COFFEE) is None
