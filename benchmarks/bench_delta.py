"""Time to compute and apply a 1,000-change bundle delta (target ≤ 100 ms).

On a chain-sized bundle (100,000 skus, 5,000 promotions, from
``_bundlegen``) version 2 differs from version 1 by 1,000 changes: 600
catalog items repriced, 150 added, 100 deleted, 75 promotions changed, 75
deleted. Measured, median of ``--repeat`` runs:

- ``compute``: the ledger's diff of two version indexes (each entry's
  canonical text; built once per version). The ledger runs it once, at
  ``kopilka ledger import``, and stores the step's delta (import time is
  printed too); a till one version behind is then served the stored text;
- ``apply``: applying the changes to the held v1 dict with
  ``fastcore.apply_delta``, the one rule of till and ledger (shallow:
  untouched entries are shared);
- ``serve``: the whole ``GET /v1/bundle?since=1`` answer text from a ledger
  database, cold (read both versions, index, diff) and warm (cached per
  version pair: what the rest of the fleet gets);
- baseline: shipping the full bundle instead (``json.dumps`` + ``json.loads``
  of version 2), measured in the same run; the ratio says what a delta saves.
  Validation with ``fastcore.load_bundle`` follows either path and is
  reported separately.

Run: ``.venv/bin/python benchmarks/bench_delta.py [--db URL]``
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import fastcore  # noqa: E402
from _bundlegen import make_bundle  # noqa: E402

from fastcore import apply_delta  # noqa: E402
from sync.ledger import Ledger, compute_delta  # noqa: E402
from sync.ledger import _bundles  # noqa: E402


def changed(v1: dict[str, Any], seed: int = 3) -> dict[str, Any]:
    rng = random.Random(seed)
    v2 = copy.deepcopy(v1)
    cat = v2["catalog"]
    for item in rng.sample(cat, 600):
        item["price"] += 100
        item["min_price"] = min(item["min_price"], item["price"])
    gone = set(rng.sample(range(len(cat)), 100))
    v2["catalog"] = [it for i, it in enumerate(cat) if i not in gone]
    for i in range(150):
        new = dict(cat[i], sku=f"{2100000000000 + i:013d}", name=f"Новинка {i}")
        v2["catalog"].append(new)
    promos = v2["promotions"]
    dead = set(rng.sample(range(len(promos)), 75))
    keep = [p for i, p in enumerate(promos) if i not in dead]
    for p in rng.sample(keep, 75):
        p["priority"] = p.get("priority", 100) + 1
    v2["promotions"] = keep
    return v2


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=None, help="ledger URL for the serve measurement "
                    "(default: a temporary SQLite file)")
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    v1 = make_bundle()
    v1["version"] = 1
    v2 = changed(v1)
    v2["version"] = 2
    delta = compute_delta(v1, v2)
    assert delta is not None
    n_changes = sum(len(delta[s]["upsert"]) + len(delta[s]["delete"])
                    for s in ("catalog", "promotions"))
    idx1, idx2 = _bundles.VersionIndex(v1), _bundles.VersionIndex(v2)
    index_ms = median_ms(lambda: _bundles.VersionIndex(v2), max(3, args.repeat // 3))
    compute = median_ms(lambda: _bundles.diff(idx1, idx2), args.repeat)
    apply = median_ms(lambda: apply_delta(v1, delta, 2), args.repeat)
    full_text = json.dumps(v2, ensure_ascii=False)
    baseline = median_ms(lambda: json.loads(json.dumps(v2, ensure_ascii=False)), args.repeat)
    delta_wire = median_ms(lambda: json.loads(json.dumps(delta, ensure_ascii=False)), args.repeat)
    validate = median_ms(lambda: fastcore.load_bundle(full_text), max(3, args.repeat // 3))

    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/ledger.db"
        with Ledger(url) as led:
            led.import_bundle(json.dumps(v1))

            t0 = time.perf_counter()
            led.import_bundle(json.dumps(v2))
            import_ms = (time.perf_counter() - t0) * 1000
            _bundles.clear_caches()
            assert (led.bundle_answer_text(1) or "").startswith('{"kind":"delta"')
            serve_ms = median_ms(lambda: led.bundle_answer_text(1), args.repeat)

    total = compute + apply
    print(f"bundle: {len(v2['catalog'])} skus, {len(v2['promotions'])} promotions; "
          f"delta: {n_changes} changes ({len(json.dumps(delta)) / 1e3:.0f} kB vs full "
          f"{len(full_text.encode()) / 1e6:.1f} MB)")
    print(f"index one version (once per version) median {index_ms:6.1f} ms")
    print(f"compute delta (ledger)        median {compute:8.1f} ms")
    print(f"apply delta (fastcore.apply_delta, as a till) median {apply:5.1f} ms")
    print(f"compute + apply               median {total:8.1f} ms   (diff not stored)")
    print(f"delta on the wire (dump+load) median {delta_wire:8.1f} ms")
    print(f"baseline: full bundle dump+load median {baseline:6.1f} ms   "
          f"ratio full/(compute+apply+wire) = {baseline / (total + delta_wire):.1f}x")
    print(f"kopilka ledger import of v2 (validate + store + diff once) {import_ms:.0f} ms")
    print(f"GET /v1/bundle?since=1 answer (stored delta read) median {serve_ms:.2f} ms")
    per_request = serve_ms + apply
    print(f"served + applied (stored delta + apply_delta) {per_request:.1f} ms   target <= 100 ms: "
          f"{'met' if per_request <= 100 else 'NOT met'}")
    print(f"fastcore.load_bundle of the result (either path) median {validate:.1f} ms")


if __name__ == "__main__":
    main()
