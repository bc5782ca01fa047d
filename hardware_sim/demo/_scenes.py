"""The demo's scenes, in the order of the shift; each is one short story.

A scene gets the ``Stage`` and tells the person watching what happens.
"""
from __future__ import annotations

from typing import Any

from agent import make_return
from fastcore import mask_card, money_text as money

from ._cast import (APPLES_LABEL, BREAD, BUCKWHEAT, CHEESE, CHOCOLATE, COFFEE, COUPON, GIFT, KEFIR, MEMBERS,
                    MILK, NEW_CARD)
from ._stage import Stage, read_receipt_qr


def anna_online(stage: Stage) -> str:
    """1. Anna's phone, a weighed item and a coupon; points held on the ledger. Returns her receipt id."""
    stage.echo("1. Anna, link up")
    stage.show_phone(MEMBERS[0]["card"], "Anna")
    stage.scan(MILK, MILK, CHEESE, COFFEE, BREAD, APPLES_LABEL, COUPON, label=APPLES_LABEL)
    receipt = stage.spend_and_pay("card")
    stage.wait(lambda: stage.queue_depth() == 0, "the uploader")
    stage.echo(f"  uploaded: ledger balance of Anna now {stage.ledger.available('A-ANNA')} pts")
    stage.echo("")
    return receipt


def boris_offline(stage: Stage) -> None:
    """2. The link goes down; Boris spends within his token's offline cap."""
    stage.echo("2. The store's link to head office goes down (chaos proxy: blackhole)")
    stage.proxy.set_mode("blackhole")
    stage.show_phone(MEMBERS[1]["card"], "Boris")
    stage.scan(KEFIR, CHOCOLATE, BUCKWHEAT, CHEESE)
    stage.spend_and_pay("cash")
    stage.echo("")


def vera_card_offline(stage: Stage) -> None:
    """2b. Vera's plastic card, known from the store's customer cache (till.md §2a)."""
    stage.echo("2b. Vera shows her plastic card, link still down")
    stage.scan(MILK, BREAD)
    stage.scanner.scan(MEMBERS[2]["card"])

    def identified() -> bool:
        s = stage.till.current()
        return s is not None and s.customer is not None

    stage.wait(identified, "the card from the store's customer cache")
    current = stage.till.current()
    assert current is not None and current.customer is not None
    vera = current.customer
    stage.echo(f"  scanner: card {mask_card(vera['card'])} found in the store's customer cache "
               f"(offline), {vera['balance']} pts; may spend {vera['offline_points']} pts offline "
               "(program.offline_card_redeem_cap)")
    near = [h for h in stage.till.view(current)["hints"] if h["near"]]
    if near:  # the engine's near miss, as the cashier screen shows it ([hints])
        stage.echo(f"  cashier screen hint: {near[0]['text']}")
    stage.spend_and_pay("cash")
    stage.echo("")


def _drain(q: Any) -> list[dict[str, Any]]:
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


def anna_returns_milk(stage: Stage, receipt: str) -> None:
    """3. Anna brings back one milk; the returns desk reads her receipt's QR."""
    stage.echo("3. Anna brings back one milk (link still down)")
    scanned = read_receipt_qr(stage.printer.receipts[0].png)
    events = stage.agent.events.subscribe()
    stage.agent.inbox.put(("scan", scanned))
    stage.tick()
    seen = [e for e in _drain(events) if e["type"] == "receipt_scanned"]
    stage.agent.events.unsubscribe(events)
    if scanned != receipt or not seen or not seen[0]["found"]:
        raise RuntimeError(f"demo: the receipt QR read {scanned!r}, not {receipt!r}")
    stage.echo(f"  returns desk scans the QR on her receipt (decoded from the printer's PNG): {scanned}, "
               "sale found on this till")
    ret = make_return(stage.till, scanned, [{"line": 0, "qty": 1}])
    stage.take_receipt("the return receipt")
    tot = ret["totals"]
    stage.echo(f"  return {ret['receipt_id']}: refund {money(tot['refund'])}, {tot['points_refunded']} pts back, "
               f"{tot['points_reversed']} earned pts reversed; till queue: {stage.queue_depth()}")
    stage.echo("")


def gleb_new_card_offline(stage: Stage) -> None:
    """3b. Gleb takes a new card from the box; the till enrols it offline (docs/enrolment.md)."""
    stage.echo("3b. Gleb has no card yet: he takes one from the box (link still down)")
    stage.scan(KEFIR, BREAD)
    events = stage.agent.events.subscribe()
    stage.scanner.scan(NEW_CARD)

    def offered() -> bool:
        seen.extend(_drain(events))
        return any(e["type"] in ("scan_refused", "identify_refused") and e.get("reason") == "unknown_card"
                   for e in seen)

    seen: list[dict[str, Any]] = []
    stage.wait(offered, "the till to offer enrolment")
    stage.agent.events.unsubscribe(events)
    current = stage.till.current()
    assert current is not None
    stage.echo(f"  scanner: card {mask_card(NEW_CARD)} is new: the cashier screen offers \"Enrol this new card\"")
    s = stage.till.enrol(current.id, NEW_CARD)  # the cashier presses the button
    assert s.customer is not None and s.result is not None
    stage.echo(f"  enrolled offline: provisional account {s.customer['account']}, an enrol TXN queued before "
               f"the sale; welcome bonus {s.result['bonus']['welcome']} pts on this first purchase")
    stage.spend_and_pay("cash")
    stage.echo("")


def gleb_confirmed(stage: Stage) -> None:
    """5. After the sync, the ledger has confirmed Gleb's card as a member."""
    found = stage.ledger.customer(NEW_CARD)
    assert found is not None
    stage.echo(f"5. The ledger confirmed the new card {mask_card(NEW_CARD)}: account {found['account']}, "
               f"{found['balance']} pts (welcome bonus included)")
    stage.echo("")


def link_back(stage: Stage) -> None:
    """4. The link comes back; ``sync now`` drains the queue with a progress bar."""
    stage.echo("4. The link comes back; kopilka sync now")
    stage.proxy.set_mode("pass")
    assert stage.agent.uploader is not None
    depth = stage.queue_depth()

    def bar(done: int, total: int) -> None:
        filled = int(20 * done / max(total, 1))
        stage.echo(f"  [{'#' * filled}{'.' * (20 - filled)}] {done}/{total}")

    report = stage.agent.uploader.sync_now(bar)
    if depth and report.sent == 0:
        bar(depth, depth)  # the background uploader was quicker
    stage.wait(lambda: stage.queue_depth() == 0, "the queue to drain", timeout=20)
    stage.echo(f"  queue empty: {len(stage.till.outbox.rows())} transactions acknowledged by the ledger")
    stage.echo("")


def gift_certificate(stage: Stage) -> None:
    """5. A gift certificate is bought, activated by its upload, then pays part of a sale."""
    stage.echo("5. Gala buys a 1000 ₽ gift certificate, then spends part of it")
    stage.scan(GIFT)
    s = stage.till.current()
    assert s is not None
    s = stage.till.pay(s.id, "card")
    stage.take_receipt("the certificate's receipt")
    sold = stage.till.sale(s.txn_id)
    assert sold is not None
    cert_id = sold["txn"]["certificates"]["sold"][0]["cert_id"]
    stage.wait(lambda: stage.queue_depth() == 0, "the uploader")
    number = f"KPC-{cert_id}"
    balance = stage.ledger.certificates.show(cert_id)["balance"]
    stage.echo(f"  receipt {s.receipt_id} prints the certificate {number[:12]}…; activated at upload: "
               f"{money(balance)} on it")
    stage.scan(CHEESE, COFFEE)
    stage.scanner.scan(number)

    def tendered() -> bool:
        cur = stage.till.current()
        return cur is not None and bool(cur.tenders)

    stage.wait(tendered, "the certificate tender")
    s = stage.till.current()
    assert s is not None and s.result is not None
    t = s.tenders[0]
    stage.echo(f"  the certificate pays {money(t['amount'])} (held on the ledger), {money(t['remaining'])} "
               f"left on it; no change given; the engine's total stays {money(s.result['totals']['paid'])}")
    s = stage.till.pay(s.id, "cash")
    stage.take_receipt("the receipt")
    stage.echo(f"  receipt {s.receipt_id} printed; cash {money(s.payment['amount'] if s.payment else 0)}")
    stage.wait(lambda: stage.queue_depth() == 0, "the uploader")
    left = stage.ledger.certificates.show(cert_id)["balance"]
    stage.echo(f"  uploaded: the ledger has {money(left)} left on the certificate")
    stage.echo("")
