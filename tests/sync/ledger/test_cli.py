"""The ``kopilka ledger`` and ``kopilka report sync`` commands (CliRunner)."""
from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sync.ledger import Ledger
from sync.ledger.cli import ledger as ledger_group
from sync.ledger.cli import report as report_group

from .helpers import BUNDLE_TEXT, CARD_A, MEMBERS_CSV
from .test_tokens import check_with_jwks


def run(group: click.Group, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(group, list(args))
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "members.csv").write_text(MEMBERS_CSV)
    (tmp_path / "bundle.json").write_text(BUNDLE_TEXT)
    (tmp_path / "bad.json").write_text('{"version": 1}')
    return {k: str(tmp_path / v) for k, v in
            (("members", "members.csv"), ("bundle", "bundle.json"), ("bad", "bad.json"))}


def test_a_head_office_day_from_the_command_line(db_url: str, files: dict[str, str]) -> None:
    db = ("--db", db_url)
    assert "cards: 3 added" in run(ledger_group, "members", "import", *db, files["members"])
    assert "3 unchanged" in run(ledger_group, "members", "import", *db, files["members"])
    assert run(ledger_group, "import", *db, files["bundle"]).strip() == "version 1"
    assert "(unchanged)" in run(ledger_group, "import", *db, files["bundle"])
    key = run(ledger_group, "till", "add", *db, "--store", "KY-001", "--till", "T1").strip()
    assert key.startswith("kpk_")
    run(ledger_group, "till", "add", *db, "--store", "KY-001", "--till", "T1", code=1)
    token = run(ledger_group, "token", *db, "--card", CARD_A).strip()
    jwks = json.loads(run(ledger_group, "keys", "show", *db))
    assert check_with_jwks(token, jwks)["acc"] == "A-77"
    assert "bundle version 2" in run(ledger_group, "keys", "rotate", *db)
    epoch = run(ledger_group, "restore-epoch", "show", *db).strip()
    assert run(ledger_group, "restore-epoch", "bump", *db).strip() != epoch
    assert "balance 30" in run(ledger_group, "adjust", *db, "--account", "B-01", "--points",
                               "-10", "--kind", "expiry")
    assert run(ledger_group, "check", *db).startswith("ok")
    assert "T1" in run(report_group, "sync", *db, "--format", "csv")
    assert json.loads(run(report_group, "sync", *db, "--format", "json"))["tills"][0]["till"] == "T1"
    assert "1\t" in run(ledger_group, "migrate", *db)
    with Ledger(db_url) as led, led.storage.transaction() as tx:
        stored = [r[0] for r in tx.all("SELECT key_hash FROM tills")]
        assert key not in stored and len(stored[0]) == 64


def test_a_corrupt_bundle_on_the_command_line_is_one_line_and_exit_1(
        db_url: str, files: dict[str, str]) -> None:
    out = run(ledger_group, "import", "--db", db_url, files["bad"], code=1)
    assert out.startswith("Error: ") and "Traceback" not in out


def test_check_exits_1_on_a_mismatch(db_url: str, files: dict[str, str]) -> None:
    run(ledger_group, "members", "import", "--db", db_url, files["members"])
    with Ledger(db_url) as led, led.storage.transaction() as tx:
        tx.execute("UPDATE accounts SET points = 1 WHERE account = 'A-77'")
    out = CliRunner().invoke(ledger_group, ["check", "--db", db_url])
    assert out.exit_code == 1 and "A-77" in out.output


def test_a_bad_members_file_is_one_line_error(db_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "m.csv"
    bad.write_text("card,account\n123,A\n")
    out = run(ledger_group, "members", "import", "--db", db_url, str(bad), code=1)
    assert "line 2.card" in out


def test_a_bad_database_url_is_one_line_error() -> None:
    out = run(ledger_group, "check", "--db", "mysql://nope", code=1)
    assert out.startswith("Error: ")


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((f"{prefix}{name}", cmd))
        if isinstance(cmd, click.Group):
            out += _commands(cmd, f"{prefix}{name} ")
    return out


@pytest.mark.parametrize("group,name", [(ledger_group, "ledger"), (report_group, "report")])
def test_every_command_has_help_ending_with_an_example_and_is_in_the_docs(
        group: click.Group, name: str) -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "ledger.md").read_text()
    for path, cmd in [(name, group)] + _commands(group, f"{name} "):
        help_text = (cmd.help or "").strip()
        assert help_text.splitlines()[-1].strip().startswith("Example: kopilka "), path
        assert f"kopilka {path}" in docs, path
