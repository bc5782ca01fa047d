"""Issue 5 (resident memory): a till without a camera never loads OpenCV,
and the agent's catalog reads items from the engine instead of holding
the bundle's dicts a second time."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import fastcore
from agent._catalog import Catalog, ItemView
from sync import PromoCache, TillDb

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("cv2", "numpy", "pyzbar", "zxingcpp", "PIL", "escpos", "sqlite_utils")

_START_TILL = r"""
import json, pathlib, sys
sys.path.insert(0, sys.argv[1])
import click
import cli  # what `kopilka agent run` imports first
from agent import Agent, parse_config
ctx = click.Context(cli.main)
assert cli.main.get_command(ctx, "agent").get_command(ctx, "run") is not None
cfg = parse_config({"till": {"id": "KY-001-01", "store": "KY-001", "program": "kopilka"},
                    "paths": {"data_dir": "till", "bundle": sys.argv[2]}, "api": {"port": 0}}, pathlib.Path(sys.argv[3]))
agent = Agent(cfg).start()
till = agent.till
s = till.open_session()
till.add_line(s.id, "4607000000014")
till.cancel(s.id)
agent.stop()
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in json.loads(sys.argv[4]))))
"""


def heavy_modules_after(code: str, *args: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, check=True)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_agent_loads_no_camera_or_image_library() -> None:
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import agent, sync, drivers; "
            "print(json.dumps([m for m in json.loads(sys.argv[2]) if m in sys.modules]))")
    assert heavy_modules_after(code, str(ROOT), json.dumps(HEAVY)) == []


def test_a_till_started_through_the_cli_without_a_camera_never_imports_opencv(tmp_path: Path) -> None:
    bundle = str(ROOT / "examples" / "bundle.json")
    loaded = heavy_modules_after(_START_TILL, str(ROOT), bundle, str(tmp_path), json.dumps(HEAVY))
    assert loaded == []


def test_the_catalog_of_a_running_till_reads_items_from_the_engine(tmp_path: Path) -> None:
    doc = json.loads((ROOT / "examples" / "bundle.json").read_text(encoding="utf-8"))
    with TillDb(tmp_path / "till.db") as db:
        cache = PromoCache(db)
        cache.install(doc)
        assert cache.meta is not None and "catalog" not in cache.meta
        catalog = Catalog(cache.meta, engine=cache.engine)
    assert isinstance(catalog.items, ItemView)
    first: dict[str, Any] = doc["catalog"][0]
    assert first["sku"] in catalog.items and "no-such-sku" not in catalog.items
    assert catalog.name(first["sku"]) == first["name"]
    assert catalog.unit(first["sku"]) == first.get("unit", "pcs")
    assert catalog.items[first["sku"]]["price"] == first["price"]
    assert catalog.items.get("no-such-sku", {}) == {}
    assert len(catalog.items) == len(doc["catalog"]) and set(catalog.items) == {c["sku"] for c in doc["catalog"]}


def test_a_catalog_built_from_a_whole_bundle_keeps_its_own_items() -> None:
    doc = json.loads((ROOT / "examples" / "bundle.json").read_text(encoding="utf-8"))
    catalog = Catalog(doc, engine=fastcore.Engine(fastcore.load_bundle(doc)))
    assert catalog.items[doc["catalog"][0]["sku"]] is doc["catalog"][0]


def test_the_device_twin_commands_still_load_on_demand() -> None:
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import click, cli; "
            "sim = cli.main.get_command(click.Context(cli.main), 'sim'); "
            "print(json.dumps(sorted(sim.commands) + ['cv2' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, check=True)
    names = json.loads(out.stdout.strip().splitlines()[-1])
    assert "camera" in names and "printer" in names and names[-1] is True
