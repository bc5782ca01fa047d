"""Store-IT commands: agent run (SIGTERM is a clean stop), status, queue,
sync now; JSON logs with card numbers masked; every command has help."""
from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from agent import Catalog, Till, setup_logging
from fastcore import scrub
from agent.cli import agent_group, queue, status, sync_group, token
from hardware_sim.demo import demo
from agent._runtime import ApiServer
from sync import TillDb

ROOT = Path(__file__).resolve().parents[2]
MILK = "4607000000014"


def write_config(tmp: Path, bundle_doc: dict[str, Any], extra: str = "") -> Path:
    (tmp / "bundle.json").write_text(json.dumps(bundle_doc), encoding="utf-8")
    cfg = tmp / "till.toml"
    cfg.write_text('[till]\nid = "KY-001-01"\nstore = "KY-001"\nprogram = "kopilka"\n'
                   '[paths]\ndata_dir = "data"\nbundle = "bundle.json"\n' + extra, encoding="utf-8")
    return cfg


def test_every_command_has_help_with_an_example() -> None:
    for cmd in (token, agent_group, demo, queue, status, sync_group):
        assert "Example: kopilka" in (cmd.help or ""), cmd.name
        for sub in getattr(cmd, "commands", {}).values():
            assert "Example: kopilka" in (sub.help or ""), sub.name


def test_agent_run_stops_cleanly_on_sigterm_and_keeps_the_open_sale(tmp_path: Path, bundle_doc) -> None:
    cfg = write_config(tmp_path, bundle_doc, "[api]\nport = 0\n")
    proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "agent", "run", "--config", str(cfg)],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        url = None
        logs: list[str] = []
        for line in proc.stderr:
            if "cashier screen at " in line:
                url = line.split("cashier screen at ")[1].strip().rsplit("/cashier", 1)[0]
                break
            logs.append(line)
        assert url, "".join(logs)
        token = (tmp_path / "data" / "api-token").read_text().strip()
        assert stat.S_IMODE((tmp_path / "data" / "api-token").stat().st_mode) == 0o600  # made at first start
        with httpx.Client(base_url=url, timeout=5, headers={"Authorization": f"Bearer {token}"}) as c:
            sid = c.post("/v1/sessions").json()["id"]
            assert c.post(f"/v1/sessions/{sid}/lines", json={"sku": MILK}).status_code == 200
            assert c.get("/v1/status").json()["open_session"] == sid
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        assert proc.wait(20) == 0, rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    records = [json.loads(ln) for ln in rest.splitlines() if ln.startswith("{")]
    assert any("running -> stopping" in r["msg"] for r in records)
    assert any("stopping -> stopped" in r["msg"] for r in records)
    res = CliRunner().invoke(status, ["--config", str(cfg), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["state"] == "not running" and doc["open_session"] == sid and doc["bundle_version"] == 1


def test_status_queue_and_sync_now_against_a_real_ledger(tmp_path: Path, bundle_doc, signer) -> None:
    from sync.ledger import Ledger, make_app

    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    server = ApiServer(make_app(ledger), "127.0.0.1", 0).start()
    try:
        key = ledger.add_till("KY-001", "KY-001-01")
        ledger.import_bundle(json.dumps({k: v for k, v in bundle_doc.items() if k not in ("keys", "customers")}))
        cfg = write_config(tmp_path, bundle_doc, f'[ledger]\nurl = "{server.url}"\nkey = "{key}"\n[api]\nport = 1\n')
        (tmp_path / "data").mkdir()
        db = TillDb(tmp_path / "data" / "till.sqlite3")
        till = Till(db, Catalog(bundle_doc), till="KY-001-01", store="KY-001", program="kopilka")
        for _ in range(3):
            s = till.open_session()
            till.add_line(s.id, MILK)
            till.pay(s.id)
        db.close()
        runner = CliRunner()
        res = runner.invoke(queue, ["--config", str(cfg)])
        assert res.exit_code == 0 and res.output.count("pending") == 3, res.output
        res = runner.invoke(status, ["--config", str(cfg)])
        assert res.exit_code == 0 and "3 to send" in res.output and "clock skew" in res.output, res.output
        res = runner.invoke(sync_group, ["now", "--config", str(cfg)])
        assert res.exit_code == 0, res.output
        assert "sent 3: 3 accepted" in res.output and "0 left" in res.output
        res = runner.invoke(queue, ["--config", str(cfg)])
        assert "queue empty" in res.output
        res = runner.invoke(sync_group, ["now", "--config", str(cfg)])
        assert "sent 0" in res.output
        with ledger.storage.transaction() as tx:
            assert tx.one("SELECT COUNT(*) FROM sales")[0] == 3
    finally:
        server.stop()
        ledger.close()


def test_commands_report_config_errors_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "till.toml"
    bad.write_text('[till]\nid = "x"\n', encoding="utf-8")
    res = CliRunner().invoke(status, ["--config", str(bad)])
    assert res.exit_code == 1 and "till.store" in res.output and "Traceback" not in res.output


def test_json_logs_mask_card_numbers_and_tokens(tmp_path: Path, signer) -> None:
    log_file = tmp_path / "agent.log"
    handler = setup_logging("INFO", file=str(log_file))
    try:
        logging.getLogger("agent.test").warning("card 2900000123458 token %s", signer.token())
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    rec = json.loads(log_file.read_text().strip().splitlines()[-1])
    assert rec["level"] == "warning" and rec["msg"] == "card ****3458 token <token>"
    assert scrub("sku 4607000000014") == "sku ****0014"
    assert os.path.getsize(log_file) > 0
