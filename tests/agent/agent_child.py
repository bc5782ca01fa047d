"""A till process for the crash tests: it sells, announces where it is on
stdout, and (in the pausing modes) blocks so the parent can SIGKILL it at
an exact point. Usage: python agent_child.py MODE DB RECEIPTS_FILE"""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent._catalog import Catalog  # noqa: E402
from agent._till import Till  # noqa: E402
from sync import TillDb  # noqa: E402

MILK, CHEESE, BREAD = "4607000000014", "4607000000038", "4607000000045"


class FilePrinter:
    def __init__(self, path: str) -> None:
        self.path = path

    def print_receipt(self, job: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"receipt_id": job["receipt_id"]}) + "\n")


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def block() -> None:
    sys.stdin.read()  # until the parent kills us


def main() -> None:
    mode, db_path, receipts = sys.argv[1:4]
    catalog = Catalog(json.loads((ROOT / "examples" / "bundle.json").read_text(encoding="utf-8")))
    db = TillDb(db_path)
    till = Till(db, catalog, till="KY-001-01", store="KY-001", program="kopilka", printer=FilePrinter(receipts))
    if mode == "mid_sale":
        s = till.open_session()
        for sku in (MILK, CHEESE, BREAD):
            till.add_line(s.id, sku)
        say(f"READY {s.id}")
        block()
    if mode == "in_commit":
        real = db.transaction

        @contextlib.contextmanager
        def pausing() -> Iterator[Any]:
            with real() as conn:
                yield conn
                if conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]:
                    say("IN_COMMIT")  # the sale row is written, not yet committed
                    block()

        s = till.open_session()
        till.add_line(s.id, MILK)
        db.transaction = pausing  # type: ignore[method-assign]
        till.pay(s.id)
    if mode == "after_commit":
        def stop(s: Any) -> None:
            say(f"COMMITTED {s.txn_id}")
            block()

        till.commits.finish = stop  # type: ignore[method-assign]
        s = till.open_session()
        till.add_line(s.id, MILK)
        till.pay(s.id)
    if mode == "loop":
        while True:
            s = till.open_session()
            till.add_line(s.id, MILK)
            till.add_line(s.id, CHEESE)
            s = till.pay(s.id)
            say(f"SOLD {s.txn_id}")


if __name__ == "__main__":
    main()
