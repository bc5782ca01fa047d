"""A package is entered only through its door (its ``__init__``).

Every ``.py`` of the production packages and ``cli.py`` is parsed (not
imported) and each import is resolved to an absolute module name. Importing
another package's private module (``from drivers._receipt import …``,
``import sync._tilldb`` from ``agent``) or a private name through its door
(``from sync import _tilldb``) is a violation; a package's own private
modules are its business. ``sync.ledger`` counts as a package of its own:
``sync/ledger/*`` importing ``sync._x`` is a violation, and so is the
reverse. The lazy ``"module:attr"`` commands of ``cli.py`` count as imports.

Why: a package whose insides are imported from elsewhere cannot be changed
safely; its door says what it offers (issue 10). And no production package
imports ``hardware_sim``: the twins are assembled above the packages, in
composition roots, never inside them.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Every package door, as a dotted name; the longest match wins.
DOORS = ("agent", "drivers", "fastcore", "hardware_sim", "sync", "sync.ledger")
PRODUCTION = ("agent", "drivers", "fastcore", "sync")
_LAZY = re.compile(r"(?:%s)(?:\.\w+)*:\w+" % "|".join(d for d in DOORS if "." not in d))


@dataclass(frozen=True)
class Import:
    """One imported module (or name), resolved to its absolute dotted name."""

    path: str
    line: int
    target: str


def door_of(module: str) -> str | None:
    """The package door ``module`` sits behind, or None when it is not ours."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in DOORS:
            return ".".join(parts[:n])
    return None


def is_private(target: str) -> bool:
    """True when a part of ``target`` below its package door starts with ``_``."""
    door = door_of(target)
    if door is None:
        return False
    inner = target[len(door) + 1:].split(".") if target != door else []
    return any(part.startswith("_") for part in inner)


def _package_of(path: Path) -> str:
    """The dotted package a file belongs to (``sync/ledger/_app.py`` → ``sync.ledger``)."""
    rel = path.relative_to(ROOT).with_suffix("")
    return ".".join(rel.parts[:-1])


def imports_of(source: str, path: str, package: str) -> list[Import]:
    """Every module or name ``source`` imports, relative imports resolved against ``package``."""
    found: list[Import] = []
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.Import):
            found += [Import(path, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # ``from sync import _tilldb``: a private module, or name, through the door
            found += [Import(path, node.lineno, f"{module}.{alias.name}" if alias.name.startswith("_") else module)
                      for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _LAZY.fullmatch(node.value):
            found.append(Import(path, node.lineno, node.value.split(":")[0]))
    return found


def door_violations(source: str, path: str, package: str) -> list[str]:
    """The imports of another package's private modules, one line each."""
    home = door_of(package) if package else None
    out = []
    for imp in sorted(set(imports_of(source, path, package)), key=lambda i: (i.line, i.target)):
        door = door_of(imp.target)
        if door is not None and door != home and is_private(imp.target):
            out.append(f"{imp.path}:{imp.line}: {imp.target} (private to {door})")
    return out


def simulator_imports(source: str, path: str, package: str) -> list[str]:
    """The imports of ``hardware_sim`` by a production package."""
    if door_of(package) not in {*PRODUCTION, "sync.ledger"}:
        return []
    return [f"{imp.path}:{imp.line}: {imp.target}"
            for imp in sorted(set(imports_of(source, path, package)), key=lambda i: (i.line, i.target))
            if door_of(imp.target) == "hardware_sim"]


def _our_files() -> list[Path]:
    files = [ROOT / "cli.py"]
    for door in DOORS:
        if "." not in door:
            files += sorted((ROOT / door).rglob("*.py"))
    return files


def _scan(check: Callable[[str, str, str], list[str]]) -> list[str]:
    found: list[str] = []
    for path in _our_files():
        rel = path.relative_to(ROOT).as_posix()
        found += check(path.read_text(encoding="utf-8"), rel, _package_of(path))
    return found


# -- the rules themselves, on small sources ----------------------------------


def test_another_packages_private_module_is_a_violation() -> None:
    src = "from drivers._receipt import mask_card\nimport sync._tilldb\n"
    assert door_violations(src, "agent/_x.py", "agent") == [
        "agent/_x.py:1: drivers._receipt (private to drivers)",
        "agent/_x.py:2: sync._tilldb (private to sync)",
    ]


def test_a_private_name_through_the_door_is_a_violation() -> None:
    assert door_violations("from sync import _tilldb\n", "agent/_x.py", "agent") == [
        "agent/_x.py:1: sync._tilldb (private to sync)",
    ]


def test_the_door_and_public_modules_are_fine() -> None:
    src = "from sync import TillDb\nimport fastcore.reference\nfrom fastcore.compiled import Engine\nimport json\n"
    assert door_violations(src, "agent/_x.py", "agent") == []


def test_own_private_modules_are_fine_relative_or_absolute() -> None:
    src = "from ._outbox import Outbox\nfrom sync._tilldb import TillDb\n"
    assert door_violations(src, "sync/_x.py", "sync") == []


def test_sync_ledger_is_a_package_of_its_own() -> None:
    assert door_violations("from .._tilldb import TillDb\n", "sync/ledger/_x.py", "sync.ledger") == [
        "sync/ledger/_x.py:1: sync._tilldb (private to sync)",
    ]
    assert door_violations("from .ledger._app import make_app\n", "sync/_x.py", "sync") == [
        "sync/_x.py:1: sync.ledger._app (private to sync.ledger)",
    ]
    assert door_violations("from ._app import make_app\n", "sync/ledger/_x.py", "sync.ledger") == []


def test_cli_py_has_no_private_modules_of_its_own() -> None:
    src = 'from agent._cli import demo\nLAZY = "hardware_sim._cli:sim"\n'
    assert door_violations(src, "cli.py", "") == [
        "cli.py:1: agent._cli (private to agent)",
        "cli.py:2: hardware_sim._cli (private to hardware_sim)",
    ]


def test_a_lazy_simulator_import_in_production_is_found() -> None:
    src = "def f():\n    from hardware_sim import CameraTwin\n"
    assert simulator_imports(src, "drivers/_x.py", "drivers") == [
        "drivers/_x.py:2: hardware_sim",
    ]
    assert simulator_imports(src, "cli.py", "") == []


# -- the code as it stands ----------------------------------------------------


def test_every_file_is_scanned() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in _our_files()}
    assert {"cli.py", "agent/__init__.py", "sync/ledger/__init__.py", "hardware_sim/__init__.py"} <= names


def test_no_package_imports_another_packages_private_modules() -> None:
    found = _scan(door_violations)
    assert not found, f"{len(found)} imports reach past a package door:\n" + "\n".join(found)


def test_no_production_package_imports_the_simulators() -> None:
    found = _scan(simulator_imports)
    assert not found, f"{len(found)} production imports of hardware_sim:\n" + "\n".join(found)
