"""Store IT: a till given only the ledger URL and its key fetches its bundle
and token keys at first start; a seed file is used only when the ledger
cannot be reached and is replaced at the first contact; token keys reach
the till even when the bundle version does not move; a till with neither
ledger nor seed refuses to start with a clear message."""
from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner

from agent import Agent, parse_config
from agent.cli import agent_group
from agent._errors import ConfigError
from agent._runtime import ApiServer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "examples" / "bundle.json").read_text(encoding="utf-8")
MEMBER = {"card": "2900000123458", "account": "A-ANNA", "tier": "silver", "opening_balance": 1500}


class LedgerServer:
    def __init__(self, tmp: Path) -> None:
        from sync.ledger import Ledger, make_app

        self.ledger = Ledger(f"sqlite:///{tmp / 'ledger.sqlite3'}")
        self.key = self.ledger.add_till("KY-001", "KY-001-01")
        self.ledger.import_members(json.dumps(MEMBER))
        self.server = ApiServer(make_app(self.ledger), "127.0.0.1", 0).start()
        self.url = self.server.url

    def close(self) -> None:
        self.server.stop()
        self.ledger.close()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[LedgerServer]:
    led = LedgerServer(tmp_path)
    try:
        yield led
    finally:
        led.close()


def dead_url() -> str:
    """A loopback address where nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def config(tmp: Path, *, url: str | None, key: str | None = "k", seed: bool = False, **extra: Any) -> Any:
    doc: dict[str, Any] = {"till": {"id": "KY-001-01", "store": "KY-001", "program": "kopilka"},
                           "paths": {"data_dir": "till"}}
    if seed:
        (tmp / "seed.json").write_text(EXAMPLE, encoding="utf-8")
        doc["paths"]["bundle"] = "seed.json"
    if url is not None:
        doc["ledger"] = {"url": url, "key": key, "bootstrap_timeout_s": 5, **extra}
    return parse_config(doc, tmp)


def agent_for(cfg: Any) -> Agent:
    return Agent(cfg, serve_api=False, pull_every_s=3600).start()


def test_a_till_with_only_the_ledger_url_and_key_bootstraps_bundle_and_keys(tmp_path: Path, ledger) -> None:
    version, _ = ledger.ledger.import_bundle(EXAMPLE)
    agent = agent_for(config(tmp_path, url=ledger.url, key=ledger.key))
    try:
        assert agent.cache.version == version and agent.till is not None
        assert agent.till.catalog.version == version and "4607000000014" in agent.till.catalog.items
        token = ledger.ledger.issue_token(MEMBER["card"])
        assert agent.till.verify_code(token).card == MEMBER["card"]  # the ledger's key is known
        assert not (tmp_path / "till" / "bundle-seeded").exists()
    finally:
        agent.stop()


def test_a_seed_is_used_only_when_the_ledger_cannot_give_a_bundle_and_is_replaced_at_first_contact(
        tmp_path: Path, ledger) -> None:
    agent = agent_for(config(tmp_path, url=ledger.url, key=ledger.key, seed=True))  # ledger has no bundle yet
    try:
        assert agent.cache.version == 1 and (tmp_path / "till" / "bundle-seeded").exists()
        token_before = None
        ledger.ledger.import_bundle(EXAMPLE)  # the same file: the ledger calls it version 1 too, with keys
        token_before = ledger.ledger.issue_token(MEMBER["card"])
        from agent._errors import TokenError

        with pytest.raises(TokenError) as refused:
            agent.till.verify_code(token_before)
        assert refused.value.reason == "unknown_key"  # the seed file has no keys
        agent.bundles.pull()  # one pull round, as the daemon's timer runs it
        assert agent.cache.version == 1 and not (tmp_path / "till" / "bundle-seeded").exists()
        assert agent.till.verify_code(ledger.ledger.issue_token(MEMBER["card"])).card == MEMBER["card"]
        assert agent.cache.meta["keys"]["keys"], "the ledger's bundle replaced the seed"
    finally:
        agent.stop()


def test_keys_reach_a_till_whose_bundle_version_equals_the_ledgers(tmp_path: Path, ledger) -> None:
    """A till seeded before this fix (no seed mark): the bundle pull answers
    "none", the keys come from GET /v1/keys, are kept, and survive a restart
    with the ledger down."""
    ledger.ledger.import_bundle(EXAMPLE)
    cfg = config(tmp_path, url=dead_url(), key=ledger.key, seed=True)
    agent = agent_for(cfg)
    agent.stop()
    (tmp_path / "till" / "bundle-seeded").unlink()
    cfg = config(tmp_path, url=ledger.url, key=ledger.key, seed=True)
    agent = agent_for(cfg)
    try:
        token = ledger.ledger.issue_token(MEMBER["card"])
        agent.bundles.pull()
        assert agent.cache.version == 1 and not agent.cache.meta.get("keys")  # the bundle did not move
        assert agent.till.verify_code(token).card == MEMBER["card"]
        assert json.loads((tmp_path / "till" / "token-keys.json").read_text())["keys"]
    finally:
        agent.stop()
    agent = agent_for(config(tmp_path, url=dead_url(), key=ledger.key, seed=True))
    try:
        agent.bundles.pull()  # offline: nothing changes, the kept keys stay in force
        assert agent.till.verify_code(ledger.ledger.issue_token(MEMBER["card"])).card == MEMBER["card"]
    finally:
        agent.stop()


def test_a_key_rotation_reaches_the_till_at_the_next_pull(tmp_path: Path, ledger) -> None:
    ledger.ledger.import_bundle(EXAMPLE)
    agent = agent_for(config(tmp_path, url=ledger.url, key=ledger.key))
    try:
        kid, _ = ledger.ledger.rotate_keys()
        token = ledger.ledger.issue_token(MEMBER["card"])
        agent.bundles.pull()
        assert kid in agent.till.catalog.keys.kids()
        assert agent.till.verify_code(token).card == MEMBER["card"]
    finally:
        agent.stop()


def test_a_till_with_neither_ledger_nor_seed_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        agent_for(config(tmp_path, url=None))
    assert err.value.field == "paths.bundle" and "no bundle yet" in str(err.value)


def test_an_unreachable_ledger_without_a_seed_refuses_to_start_naming_the_ledger(tmp_path: Path) -> None:
    url = dead_url()
    with pytest.raises(ConfigError) as err:
        agent_for(config(tmp_path, url=url))
    assert url in str(err.value) and "unreachable" in str(err.value) and "paths.bundle" in str(err.value)


def test_a_ledger_refusing_the_tills_key_is_named_in_the_refusal(tmp_path: Path, ledger) -> None:
    ledger.ledger.import_bundle(EXAMPLE)
    with pytest.raises(ConfigError) as err:
        agent_for(config(tmp_path, url=ledger.url, key="not-the-key"))
    assert "refused" in str(err.value)


def test_agent_run_refuses_without_bundle_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    cfg = tmp_path / "till.toml"
    cfg.write_text(f'[till]\nid = "KY-001-01"\nstore = "KY-001"\nprogram = "kopilka"\n[paths]\ndata_dir = "till"\n'
                   f'[ledger]\nurl = "{dead_url()}"\nkey = "k"\nbootstrap_timeout_s = 2\n[api]\nport = 0\n',
                   encoding="utf-8")
    res = CliRunner().invoke(agent_group, ["run", "--config", str(cfg), "--once"])
    assert res.exit_code == 1 and "no bundle yet" in res.output and "Traceback" not in res.output, res.output


@pytest.mark.parametrize("extra,field", [
    ('[till]\nlanguage = "de"\n', "till.language"),
    ('[ledger]\nbootstrap_timeout_s = 0\n', "ledger.bootstrap_timeout_s"),
    ('[ledger]\nbootstrap_timeout_s = "x"\n', "ledger.bootstrap_timeout_s"),
])
def test_new_config_keys_are_validated_by_name(tmp_path: Path, extra: str, field: str) -> None:
    import tomllib

    base = '[till]\nid = "t"\nstore = "s"\nprogram = "p"\n[paths]\ndata_dir = "d"\n'
    doc = tomllib.loads(base)
    for section, table in tomllib.loads(extra).items():
        doc.setdefault(section, {}).update(table)
    with pytest.raises(ConfigError) as err:
        parse_config(doc, tmp_path)
    assert err.value.field == field


def test_agent_run_once_with_only_ledger_url_and_key_bootstraps(tmp_path: Path, ledger) -> None:
    version, _ = ledger.ledger.import_bundle(EXAMPLE)
    cfg = tmp_path / "till.toml"
    cfg.write_text(f'[till]\nid = "KY-001-01"\nstore = "KY-001"\nprogram = "kopilka"\n[paths]\ndata_dir = "till"\n'
                   f'[ledger]\nurl = "{ledger.url}"\nkey = "{ledger.key}"\n[api]\nport = 0\n', encoding="utf-8")
    res = CliRunner().invoke(agent_group, ["run", "--config", str(cfg), "--once"])
    assert res.exit_code == 0, res.output
    from sync import PromoCache, TillDb

    db = TillDb(tmp_path / "till" / "till.sqlite3")
    try:
        cache = PromoCache(db)
        assert cache.version == version and cache.meta["keys"]["keys"]
    finally:
        db.close()
