"""kopilka demo end to end: the shift reaches the ledger exactly once and the
printed receipts read back line by line as the sales were committed."""
from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from agent._receipt import parse_printed
from fastcore import money_text
from hardware_sim.demo import demo, run_demo


def test_the_demo_shift_reaches_the_ledger_exactly_once(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_demo(lines.append, tmp_path)
    assert result.seconds < 60
    assert [t["kind"] for t in result.outbox] == ["sale", "sale", "sale", "return", "enrol", "sale",
                                                  "sale", "sale"]
    # Gleb's new card, enrolled offline (docs/enrolment.md): confirmed by the ledger
    gleb = result.outbox[5]
    assert gleb["customer"]["account"] == result.outbox[4]["customer"]["account"]
    assert gleb["result"]["bonus"]["welcome"] > 0
    outbox = [t for t in result.outbox if t["kind"] != "enrol"]  # every one of these printed
    assert [t["mode"] for t in outbox[:3]] == ["online", "offline", "offline"]
    assert outbox[0]["hold_id"] and outbox[1]["hold_id"] is None
    assert all(t["ack"] == "acked" for t in outbox)
    # exactly once at the ledger, same txn_ids, same seqs
    assert [(r["txn_id"], r["seq"]) for r in result.ledger_rows] == [(t["txn_id"], t["seq"]) for t in outbox]
    assert result.journal_ok
    # apples weighed at the scale, sold from its label; the coupon scanned and applied
    anna = outbox[0]
    assert {"sku": "2000000000053", "qty": "0.455"} in anna["basket"]["lines"]
    assert anna["basket"]["coupons"] == ["SPRING300"] and anna["result"]["rejected_coupons"] == []
    assert any(a["promo"] == "BASKET-300" for a in anna["result"]["applied"])
    # balances: opening - redeemed + earned, then the return
    sale1, sale2, sale3, ret = (t["result"]["totals"] for t in outbox[:4])
    assert result.balances["A-BORIS"] == 900 - sale2["redeemed_points"] + sale2["points"]
    # Vera's plastic card, identified offline from the store's customer cache (till.md §2a):
    # accrual only (offline_card_redeem_cap 0), her welcome bonus on the first purchase
    vera = outbox[2]
    assert vera["customer"]["account"] == "A-VERA" and vera["customer"]["jti"] is None
    assert sale3["redeemed_points"] == 0
    assert result.balances["A-VERA"] == 300 + sale3["points"]
    assert result.balances["A-ANNA"] == (1500 - sale1["redeemed_points"] + sale1["points"]
                                         + ret["points_refunded"] - ret["points_reversed"])
    # every receipt the printer twin rendered reads back as committed
    for text, txn in zip(result.receipts, outbox, strict=True):
        got = parse_printed(text)
        assert got["receipt_id"] == f"KY-001-01/{txn['seq']}"
        if txn["kind"] == "sale":
            want = txn["result"]["lines"]
            assert [(ln["qty"], ln["amount"], ln["discount"]) for ln in got["lines"]] == \
                [(ln["qty"], ln["amount"], ln["discount"]) for ln in want]
            assert got["totals"]["total"] == txn["result"]["totals"]["paid"]
            if txn["customer"] is not None:  # the certificate's sales are anonymous
                assert got["totals"]["points_spent"] == txn["result"]["totals"]["redeemed_points"]
                assert got["totals"]["points_earned"] == txn["result"]["totals"]["points"]
                assert got["totals"]["card"].endswith(txn["customer"]["card"][-4:])
                assert txn["customer"]["card"] not in text
        else:
            assert got["totals"]["refund"] == txn["result"]["totals"]["refund"]
    # a gift certificate bought, activated at upload, then paying a later sale in full
    bought, spent = outbox[5], outbox[6]
    cert_id = bought["certificates"]["sold"][0]["cert_id"]
    (tender,) = spent["certificates"]["tenders"]
    assert tender["cert_id"] == cert_id and tender["mode"] == "online"
    assert tender["amount"] == spent["result"]["totals"]["paid"] and tender["remaining"] == 100000 - tender["amount"]
    assert f"KPC-{cert_id}" in result.receipts[5] and "Остаток на сертификате" in result.receipts[6]
    assert any("the certificate pays" in ln for ln in lines)
    assert any("network" in ln or "link" in ln for ln in lines)
    assert (tmp_path / "receipts" / "0001.txt").exists() and (tmp_path / "receipts" / "0001.png").exists()
    # head office's morning: the loyalty report's figures are the outbox's, the page stands alone
    sales = [t for t in outbox if t["kind"] == "sale"]
    paid = sum(t["result"]["totals"]["paid"] for t in sales)
    total_row = next(ln for ln in lines if ln.strip().startswith("total"))
    assert money_text(paid) in total_row.split()
    page = result.report_page
    assert page is not None and page.parent == tmp_path
    html = page.read_text(encoding="utf-8")
    assert html.count("<svg") >= 5 and "<script src" not in html
    assert re.search(r"""(src|href|url)\s*[=(]\s*["']?(https?:)?//""", html) is None  # nothing fetched


def test_the_demo_command_prints_the_shift_and_the_report(tmp_path: Path) -> None:
    res = CliRunner().invoke(demo, ["--keep", str(tmp_path / "kept")])
    assert res.exit_code == 0, res.output
    out = res.output
    for words in ("Anna", "Boris", "OFFLINE", "Возврат", "По чеку", "scale label 2000000004556",
                  "0.455 кг x 169.90", "coupon SPRING300: applied", "found in the store's customer cache (offline)",
                  "Ledger sync report", "journal = balances: OK",
                  "cashier screen hint: добавьте ещё 1 (dairy/milk) — 2 по цене 1"):
        assert words in out, words
    assert "2900000123458" not in out
    assert (tmp_path / "kept" / "agent.log").stat().st_size > 0
