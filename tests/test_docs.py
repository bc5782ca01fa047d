"""Every command has help ending with an example and is documented."""
from __future__ import annotations

from pathlib import Path

import click
import pytest

from cli import main

ROOT = Path(__file__).resolve().parent.parent
DOCS = "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def _commands(cmd: click.Command, prefix: list[str]) -> list[tuple[str, click.Command]]:
    if isinstance(cmd, click.Group):
        out = []
        for name, sub in sorted(cmd.commands.items()):
            out += _commands(sub, prefix + [name])
        return out
    return [(" ".join(prefix), cmd)]


COMMANDS = _commands(main, ["kopilka"])


def test_there_are_commands() -> None:
    assert len(COMMANDS) > 20


@pytest.mark.parametrize("name,cmd", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_has_help_and_is_documented(name: str, cmd: click.Command) -> None:
    assert cmd.help and cmd.help.strip(), f"{name} has no help"
    assert name in DOCS, f"{name} appears in neither README.md nor docs/"


def test_every_kopilka_environment_variable_is_in_the_readme() -> None:
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    used = set()
    for path in ROOT.glob("*/**/*.py"):
        if ".venv" in path.parts:
            continue
        used |= set(re.findall(r"KOPILKA_[A-Z_]+", path.read_text(encoding="utf-8")))
    used |= set(re.findall(r"KOPILKA_[A-Z_]+", (ROOT / "cli.py").read_text(encoding="utf-8")))
    missing = sorted(v for v in used if v not in readme)
    assert not missing, f"undocumented environment variables: {missing}"


def test_every_relative_link_in_the_docs_leads_to_a_file() -> None:
    """docs/ARCHITECTURE.md links each rule to its module: a moved module must move its link too."""
    import re

    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue
            if not (page.parent / target.split("#")[0]).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def test_the_architecture_page_answers_the_three_questions_in_one_hop() -> None:
    page = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for question in ("the receipt printed?", "a return priced?", "a sale uploaded?"):
        answer = page.split(question, 1)[1].split("\n- **", 1)[0].split("\n## ", 1)[0]
        assert "](../" in answer, f"'{question}' has no link to a module"
