"""``sync.ledger.__all__`` is sorted and names every public member."""
from __future__ import annotations

import sync.ledger as pkg


def test_all_is_sorted_and_complete() -> None:
    assert list(pkg.__all__) == sorted(pkg.__all__)
    public = {n for n, v in vars(pkg).items() if not n.startswith("_")
              and getattr(v, "__module__", "").startswith("sync.ledger")}
    assert public <= set(pkg.__all__)
    assert all(hasattr(pkg, n) for n in pkg.__all__)
