"""``kopilka ledger cert issue|show|list`` on SQLite and PostgreSQL, and hostile arguments."""
from __future__ import annotations

import json
import uuid

import click
import pytest
from click.testing import CliRunner

from sync.ledger.cli import ledger as ledger_group


def run(group: click.Group, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(group, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_issue_show_and_list_a_certificate_and_check_stays_ok(db_url: str) -> None:
    db = ("--db", db_url)
    made = json.loads(run(ledger_group, "cert", "issue", *db, "--face", "100000", "--ocap", "5000"))
    assert (made["balance"], made["ocap"], made["state"]) == (100000, 5000, "active")
    assert made["code"].count(".") == 2
    shown = json.loads(run(ledger_group, "cert", "show", *db, made["cert_id"]))
    assert shown["entries"][0]["kind"] == "issue" and shown["code"]
    assert made["cert_id"] in run(ledger_group, "cert", "list", *db)
    assert "ok" in run(ledger_group, "check", *db)


@pytest.mark.parametrize("args", [
    ("--face", "0"), ("--face", "-5"), ("--face", str(2**63)), ("--face", "1e308"),
    ("--face", "10", "--ocap", "0"), ("--face", "10", "--days", "0"), ("--face", "x\x00"),
])
def test_issue_refuses_hostile_figures_and_issues_nothing(db_url: str, args: tuple[str, ...]) -> None:
    run(ledger_group, "cert", "issue", "--db", db_url, *args, code=2)
    assert run(ledger_group, "cert", "list", "--db", db_url) == ""


def test_an_ocap_above_the_face_value_is_refused(db_url: str) -> None:
    out = run(ledger_group, "cert", "issue", "--db", db_url, "--face", "10", "--ocap", "11", code=1)
    assert "ocap" in out


@pytest.mark.parametrize("cert_id", ["nope", "a" * 65, "a\x00" * 8, str(uuid.uuid4().hex)])
def test_show_of_an_unknown_or_hostile_id_says_unknown_certificate(db_url: str, cert_id: str) -> None:
    assert "unknown_certificate" in run(ledger_group, "cert", "show", "--db", db_url, cert_id, code=1)
