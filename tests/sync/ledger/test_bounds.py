"""Integer bounds and program ceilings (spec/sync.md): refused with the field's path, nothing moves."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from sync.ledger import Ledger, LedgerError, MemberImportError
from sync.ledger.cli import ledger as ledger_group

from .helpers import CARD_A, ASGIClient, TillSim
from .rules import MAX_INT, assert_sound, forged, post, snapshot


@pytest.mark.parametrize("path, value", [
    ("result.totals.points", 2**63 - 1),
    ("result.totals.points", MAX_INT + 1),
    ("result.totals.redeemed_points", 2**64),
    ("result.lines[0].points", MAX_INT + 1),
    ("result.lines[1].paid", -1),
    ("result.bonus.birthday", 10**30),
    ("seq", MAX_INT + 1),
    ("bundle_version", 2**63),
    ("basket.redeem", -5),
    ("customer.claims", {"cap": 2**70}),
])
def test_an_integer_outside_0_to_2_53_is_rejected_invalid_with_its_path(
        client: ASGIClient, till: TillSim, shop: Ledger, path: str, value: object) -> None:
    before = snapshot(shop)
    (res,) = post(client, till, [forged(till.sale("A-77"), path, value)])
    assert (res["status"], res["reason"]) == ("rejected", "invalid"), res
    expected = path if path != "customer.claims" else "customer.claims.cap"
    assert res["field"] == expected and res["detail"].startswith(expected)
    assert snapshot(shop) == before
    assert_sound(shop)


def test_points_above_the_programs_ceiling_per_sale_are_rejected(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    before = snapshot(shop)
    over = forged(till.sale("A-77"), "result.totals.points", 1_000_001)
    at = forged(till.sale("A-77"), "result.totals.points", 1_000_000)
    res = post(client, till, [over, at])
    assert (res[0]["status"], res[0]["field"]) == ("rejected", "result.totals.points")
    assert "1000000 points per sale" in res[0]["detail"]
    assert res[1]["status"] == "accepted"  # at the ceiling (the audit takes it back later)
    assert snapshot(shop)["sales"] != before["sales"]
    assert_sound(shop)


@pytest.mark.parametrize("path, value", [
    ("result.lines[0].qty", "1000"),        # a pcs line above 999
    ("result.lines[0].qty", "1000000000000000000000000000000"),
    ("basket.lines[0].qty", 10**15),
    ("basket.lines[0].qty", "1000000000000000000000000000000"),
    ("basket.lines[0].qty", 1e308),
])
def test_a_line_quantity_above_the_programs_ceiling_is_rejected(
        client: ASGIClient, till: TillSim, shop: Ledger, path: str, value: object) -> None:
    before = snapshot(shop)
    (res,) = post(client, till, [forged(till.sale("A-77"), path, value)])
    assert (res["status"], res["reason"], res["field"]) == ("rejected", "invalid", path), res
    assert snapshot(shop) == before


def test_an_accrual_that_would_take_a_balance_past_2_53_is_rejected_and_the_balance_stays_int(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    shop.adjust("A-77", MAX_INT - 500 - 5)
    before = snapshot(shop)
    sale, plain = till.sale("A-77"), till.sale("B-01")
    res = post(client, till, [sale, plain])
    assert (res[0]["status"], res[0]["reason"], res[0]["field"]) == (
        "rejected", "invalid", "result.totals.points")
    assert res[1]["status"] == "accepted"  # the rest of the batch goes on
    assert shop.balance("A-77") == MAX_INT - 5
    assert snapshot(shop)["journal"] != before["journal"]
    assert_sound(shop)
    result = CliRunner().invoke(ledger_group, ["check", "--db", shop.url])
    assert result.exit_code == 0, result.output


def test_ledger_adjust_beyond_the_bounds_is_refused_with_a_specific_error(shop: Ledger) -> None:
    with pytest.raises(LedgerError) as exc:
        shop.adjust("A-77", MAX_INT + 1)
    assert exc.value.reason == "invalid" and exc.value.field == "points"
    shop.adjust("A-77", MAX_INT - 500)
    with pytest.raises(LedgerError) as exc:
        shop.adjust("A-77", 1)
    assert exc.value.reason == "out_of_bounds"
    assert shop.balance("A-77") == MAX_INT
    result = CliRunner().invoke(ledger_group, ["adjust", "--db", shop.url, "--account", "A-77",
                                               "--points", str(2**63)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "points" in result.output
    assert_sound(shop)


def test_a_members_file_with_an_opening_balance_beyond_2_53_is_refused_whole(
        shop: Ledger) -> None:
    before = snapshot(shop)
    text = ("card,account,opening_balance\n"
            "2900000123489,Z-1,10\n"
            f"2900000123496,Z-2,{2**63}\n")
    with pytest.raises(MemberImportError) as exc:
        shop.import_members(text)
    assert exc.value.reason == "out_of_bounds" and exc.value.field == "line 3.opening_balance"
    assert snapshot(shop) == before


def test_a_negative_opening_balance_is_kept_and_later_accruals_raise_it(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    shop.import_members("card,account,opening_balance\n2900000123489,Z-1,-300\n")
    assert shop.balance("Z-1") == -300
    sale = till.sale("Z-1")
    assert post(client, till, [sale])[0]["status"] == "accepted"
    assert shop.balance("Z-1") == -300 + sale["result"]["totals"]["points"]
    assert_sound(shop)


def test_an_opening_balance_that_would_overflow_an_existing_balance_is_refused(
        shop: Ledger) -> None:
    shop.import_members("card,account\n2900000123489,Z-1\n")
    shop.adjust("Z-1", MAX_INT)
    with pytest.raises(MemberImportError) as exc:
        shop.import_members("card,account,opening_balance\n2900000123489,Z-1,1\n")
    assert exc.value.reason == "out_of_bounds"
    assert shop.balance("Z-1") == MAX_INT
    assert_sound(shop)


def test_the_customer_look_up_is_unchanged_by_a_refused_sale(
        client: ASGIClient, till: TillSim, shop: Ledger) -> None:
    before = client.get(f"/v1/customers/{CARD_A}", headers=till.headers).json()
    post(client, till, [forged(till.sale("A-77"), "result.totals.points", 2**63)])
    assert client.get(f"/v1/customers/{CARD_A}", headers=till.headers).json() == before
