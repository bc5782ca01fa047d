"""The till's TOML configuration: validated on load, errors name the key."""
from __future__ import annotations

from pathlib import Path

import pytest

from agent import ConfigError
from agent._config import load_config

ROOT = Path(__file__).resolve().parents[2]
GOOD = """
[till]
id = "KY-001-01"
store = "KY-001"
program = "kopilka"
[paths]
data_dir = "data"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "till.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_a_minimal_config_loads_with_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.till == "KY-001-01" and cfg.api_host == "127.0.0.1" and cfg.api_port == 8765
    assert cfg.data_dir == (tmp_path / "data").resolve() and cfg.hold_budget_ms == 300


def test_the_sample_config_in_docs_is_valid(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "till.sample.toml").read_text(encoding="utf-8")
    text = text.replace('key_file = "/etc/kopilka/till.key"', 'key = "secret"')
    cfg = load_config(write(tmp_path, text))
    assert cfg.printer == "usb://0x0416:0x5011" and cfg.ledger_key == "secret"


def test_hints_default_to_on_within_30_percent_at_most_5_not_printed(tmp_path: Path) -> None:
    h = load_config(write(tmp_path, GOOD)).hints
    assert (h.enabled, h.near_percent, h.near_bp, h.max, h.print) == (True, 30, 3000, 5, False)
    h = load_config(write(tmp_path, GOOD + "[hints]\nnear_percent = 10\nmax = 2\nprint = true\n")).hints
    assert (h.enabled, h.near_bp, h.max, h.print) == (True, 1000, 2, True)


def test_a_bad_hints_value_says_what_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD + "[hints]\nnear_percent = 150\n"))
    assert "between 0 and 100" in str(info.value) and "150" in str(info.value)


def test_key_file_is_read_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "till.key").write_text("k-123\n")
    cfg = load_config(write(tmp_path, GOOD + '[ledger]\nurl = "http://127.0.0.1:1"\nkey_file = "till.key"\n'))
    assert cfg.ledger_key == "k-123"


@pytest.mark.parametrize("extra,field", [
    ("", None),
    ('[ledger]\nhold_budget_ms = "300"\n', "ledger.hold_budget_ms"),
    ("[ledger]\nhold_budget_ms = 0\n", "ledger.hold_budget_ms"),
    ('[ledger]\nurl = "ftp://x"\nkey = "k"\n', "ledger.url"),
    ('[ledger]\nurl = "http://x"\n', "ledger.key"),
    ('[ledger]\nkey = "a"\nkey_file = "b"\n', "ledger.key_file"),
    ('[ledger]\nkey_file = "missing.key"\n', "ledger.key_file"),
    ('[api]\nhost = "0.0.0.0"\n', "api.host"),
    ("[api]\nport = 70000\n", "api.port"),
    ("[api]\nport = true\n", "api.port"),
    ('[printer]\nurl = "lpt1"\n', "printer.url"),
    ('[printer]\nencoding = "klingon"\n', "printer.encoding"),
    ('[log]\nlevel = "LOUD"\n', "log.level"),
    ('[scanner]\nspeed = 1\n', "scanner.speed"),
    ('[extras]\nx = 1\n', "extras"),
    ("[hints]\nnear_percent = 150\n", "hints.near_percent"),
    ("[hints]\nnear_percent = -1\n", "hints.near_percent"),
    ("[hints]\nmax = 21\n", "hints.max"),
    ('[hints]\nenabled = "yes"\n', "hints.enabled"),
    ("[hints]\nprint = 1\n", "hints.print"),
    ("[hints]\nshow = true\n", "hints.show"),
    ("[hints]\nenabled = false\nnear_percent = 0\nmax = 0\nprint = true\n", None),
])
def test_bad_values_name_the_key(tmp_path: Path, extra: str, field: str | None) -> None:
    if field is None:
        load_config(write(tmp_path, GOOD + extra))
        return
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD + extra))
    assert info.value.field == field and field in str(info.value)


@pytest.mark.parametrize("missing", ["id", "store", "program"])
def test_required_keys_are_named_when_missing(tmp_path: Path, missing: str) -> None:
    text = "\n".join(ln for ln in GOOD.splitlines() if not ln.startswith(missing + " "))
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert info.value.field == f"till.{missing}"


def test_unreadable_or_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "[till\n"))
    assert "not valid TOML" in str(info.value)
