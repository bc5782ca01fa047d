"""Each package door's ``__all__`` is exactly the public names it holds, sorted.

In the style of httpx's ``tests/test_exported_members.py``: whatever public
name an ``__init__`` binds is something it offers, so it must be listed, and
nothing may be listed that is not there. Two names are not offers: the
``annotations`` feature of ``from __future__ import annotations`` (house
style in every module) and the package's own submodules, which the import
system binds on the package (``fastcore.reference``, ``sync.ledger``).
"""
from __future__ import annotations

import __future__
import importlib
import types

import pytest

DOORS = ["agent", "drivers", "fastcore", "hardware_sim", "sync", "sync.ledger"]


def _offered(name: str) -> list[str]:
    module = importlib.import_module(name)
    return sorted(
        member
        for member, value in vars(module).items()
        if not member.startswith("_")
        and not isinstance(value, __future__._Feature)
        and not (isinstance(value, types.ModuleType) and value.__name__ == f"{name}.{member}")
    )


@pytest.mark.parametrize("name", DOORS)
def test_all_is_exactly_the_sorted_public_names(name: str) -> None:
    module = importlib.import_module(name)
    offered = _offered(name)
    unlisted = sorted(set(offered) - set(module.__all__))
    absent = sorted(set(module.__all__) - set(offered))
    assert module.__all__ == offered, f"{name}: public but not in __all__: {unlisted}; in __all__ but absent: {absent}"


def test_submodules_bound_by_the_import_system_are_not_offers() -> None:
    import fastcore.reference  # noqa: F401  (binds fastcore.reference)

    assert "reference" not in _offered("fastcore")
    assert "ledger" not in _offered("sync")
