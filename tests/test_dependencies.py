"""Every third-party package our code imports is declared in pyproject.toml.

A package that arrives only as another one's dependency (python-barcode via
python-escpos, numpy via OpenCV) can vanish with that one's next release;
declared, it is ours to pin and to justify (DESIGN.md, "Dependencies").
Imports are read with ``ast`` (lazy ones inside functions included, and the
``optional_import("serial")`` / ``import_module("…")`` calls of the device
drivers) and mapped to their distributions by ``packages_distributions()``.
"""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "drivers", "fastcore", "hardware_sim", "sync")
_DYNAMIC = {"import_module", "optional_import"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(*extras: str) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    for extra in extras:
        specs += project["optional-dependencies"][extra]
    return {_norm(re.split(r"[\s\[<>=!~;]", spec, maxsplit=1)[0]) for spec in specs}


def imported_top_names(source: str, path: str) -> set[str]:
    """Top-level names of every absolute import in ``source``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in _DYNAMIC and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
    return {name.split(".")[0] for name in names}


def undeclared(files: list[Path], local: set[str], declared: set[str]) -> list[str]:
    """``module (distribution): first file`` for each third-party import not declared."""
    dists = packages_distributions()
    first: dict[str, str] = {}
    for path in files:
        for top in imported_top_names(path.read_text(encoding="utf-8"), str(path)):
            if top not in sys.stdlib_module_names and top not in local:
                first.setdefault(top, path.relative_to(ROOT).as_posix())
    out = []
    for top, where in sorted(first.items()):
        found = [_norm(d) for d in dists.get(top, [])]
        if not set(found) & declared:
            out.append(f"{top} ({', '.join(found) or 'no installed distribution'}): {where}")
    return out


def _production_files() -> list[Path]:
    return [ROOT / "cli.py", *(p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py")))]


def _tool_files() -> list[Path]:
    return [p for folder in ("tests", "benchmarks", "scripts") for p in sorted((ROOT / folder).rglob("*.py"))]


def _local_names() -> set[str]:
    """Our packages, plus the helper modules tests and benchmarks import by name."""
    names = {*PACKAGES, "cli", "tests", "benchmarks"}
    for path in _tool_files():
        names.add(path.stem)
        names |= {part for part in path.relative_to(ROOT).parts[:-1]}
    return names


def test_imports_of_other_projects_are_found() -> None:
    src = "import numpy as np\nfrom PIL import Image\ndef f():\n    serial = optional_import('serial')\n"
    assert imported_top_names(src, "x.py") == {"numpy", "PIL", "serial"}
    assert imported_top_names("from . import _x\nfrom .._y import z\n", "x.py") == set()


def test_every_package_the_production_code_imports_is_a_dependency() -> None:
    missing = undeclared(_production_files(), _local_names(), _declared())
    assert not missing, "imported but not in [project] dependencies:\n" + "\n".join(missing)


def test_every_package_tests_and_benchmarks_import_is_declared() -> None:
    missing = undeclared(_tool_files(), _local_names(), _declared("test"))
    assert not missing, "imported but in neither dependencies nor the test extra:\n" + "\n".join(missing)
