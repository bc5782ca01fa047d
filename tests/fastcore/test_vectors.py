"""Every shared vector reproduced exactly, by both engines and by the CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from click.testing import CliRunner

from cli import main
from fastcore import BasketError, BundleError, loads

from ..conftest import VECTORS

CASES = sorted(p.name for p in VECTORS.iterdir() if p.is_dir()) if VECTORS.is_dir() else []


def test_the_shared_vectors_are_there() -> None:
    assert len(CASES) >= 36


def _load(case: str, name: str) -> object:
    return loads((VECTORS / case / name).read_bytes())


@pytest.mark.parametrize("case", CASES)
def test_vector_is_reproduced_exactly(Engine: type, case: str) -> None:
    expected = json.loads((VECTORS / case / "expected.json").read_text())
    if expected.get("error"):
        with pytest.raises((BasketError, BundleError)):
            Engine(_load(case, "bundle.json")).price(_load(case, "basket.json"))
        return
    result = Engine(_load(case, "bundle.json")).price(_load(case, "basket.json")).to_json()
    assert result == expected


@pytest.mark.parametrize("engine", ["compiled", "reference"])
@pytest.mark.parametrize("case", CASES)
def test_cli_price_reproduces_vector(case: str, engine: str) -> None:
    args = ["price", "--engine", engine, "--bundle", str(VECTORS / case / "bundle.json"), str(VECTORS / case / "basket.json")]
    out = CliRunner().invoke(main, args)
    expected = json.loads((VECTORS / case / "expected.json").read_text())
    if expected.get("error"):
        assert out.exit_code == 2
        assert out.stdout == ""
        assert len(out.stderr.strip().splitlines()) == 1
    else:
        assert out.exit_code == 0, out.stderr
        assert json.loads(out.stdout) == expected


def test_installed_kopilka_command_exits_2_on_an_error_vector() -> None:
    case = VECTORS / "12-error-unknown-sku"
    exe = Path(sys.executable).with_name("kopilka")
    proc = subprocess.run([str(exe), "price", "--bundle", str(case / "bundle.json"), str(case / "basket.json")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("error: lines[")
