"""The end of the shift: the receipts as printed, the outbox, the ledger's report."""
from __future__ import annotations

from fastcore import mask_card, money_text as money
from sync.ledger import collect_sync_report as collect, render_sync_report as render, report_text

from ._cast import MEMBERS, TILL
from ._result import DemoResult
from ._stage import Stage


def show_receipts(stage: Stage) -> None:
    stage.echo("Receipts as the printer twin rendered them:")
    for text in stage.receipts:
        stage.echo("  +" + "-" * 50 + "+")
        for line in text.rstrip("\n").splitlines():
            stage.echo(f"  | {line:<48} |")
        stage.echo("  +" + "-" * 50 + "+")
    stage.echo("")


def gather(stage: Stage, result: DemoResult) -> None:
    """What the till and the ledger hold now, for the test and the summary."""
    result.receipts = list(stage.receipts)
    result.identify_ms = list(stage.identify_ms)
    result.outbox = [dict(r.txn, ack=r.status) for r in stage.till.outbox.rows()]
    with stage.ledger.storage.transaction() as tx:
        got = tx.all("SELECT txn_id, kind, seq, mode, account FROM sales WHERE till = ? ORDER BY seq", (TILL,))
    result.ledger_rows = [{"txn_id": r[0], "kind": r[1], "seq": r[2], "mode": r[3], "account": r[4]}
                          for r in got]
    result.balances = {m["account"]: stage.ledger.available(m["account"]) for m in MEMBERS}
    result.journal_ok = not stage.ledger.check()


def show_outbox(stage: Stage) -> None:
    stage.echo("Till outbox, as the ledger acknowledged it:")
    stage.echo(f"  {'seq':>3}  {'kind':<6} {'receipt':<13} {'customer':<14} {'mode':<7} {'paid':>8} "
               f"{'pts+':>5} {'pts-':>5}  ledger")
    for r in stage.till.outbox.rows():
        t = r.txn
        res = t["result"].get("totals") or {}  # an enrol TXN has none (docs/enrolment.md)
        cust = mask_card(t["customer"]["card"]) if t.get("customer") else "-"
        paid = res.get("paid", -res.get("refund", 0))
        plus = res.get("points", res.get("points_refunded", 0))
        minus = res.get("redeemed_points", res.get("points_reversed", 0))
        receipt = f"{TILL}/{r.seq}" if t["kind"] != "enrol" else "-"
        stage.echo(f"  {r.seq:>3}  {t['kind']:<6} {receipt:<13} {cust:<14} {t['mode']:<7} {money(paid):>8} "
                   f"{plus:>5} {minus:>5}  {r.status}")
    stage.echo("")


def show_ledger(stage: Stage, result: DemoResult) -> None:
    stage.echo("Ledger sync report (kopilka report sync):")
    for line in render(collect(stage.ledger.storage), "table").rstrip("\n").splitlines():
        stage.echo("  " + line)
    stage.echo("")
    stage.echo("Ledger balances: " + ", ".join(f"{a} {b} pts" for a, b in result.balances.items())
               + f"; journal = balances: {'OK' if result.journal_ok else 'MISMATCH'}")


def show_head_office(stage: Stage, result: DemoResult) -> None:
    """What head office reads the next morning: the loyalty report, and the whole
    page (charts, flags, settlement) as one self-contained HTML file."""
    storage, now = stage.ledger.storage, stage.ledger.clock()
    stage.echo("Head office: kopilka report loyalty (this week):")
    for line in report_text(storage, now, "loyalty", "table").rstrip("\n").splitlines():
        stage.echo("  " + line)
    page = stage.workdir / "report-loyalty.html"
    page.write_text(report_text(storage, now, "loyalty", "html"), encoding="utf-8")
    result.report_page = page
    stage.echo(f"  the page with its charts: kopilka report loyalty --format html -> {page.name} "
               f"({page.stat().st_size // 1024} KiB, no network needed)")
    stage.echo("")
