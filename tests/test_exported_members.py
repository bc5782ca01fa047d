"""Each package's ``__all__`` is sorted and names exactly its public members."""
from __future__ import annotations

import importlib

import pytest

PACKAGES = ["agent", "drivers", "fastcore", "hardware_sim", "sync"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported)
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", "").startswith(name)
        and not isinstance(v, type(importlib))
    }
    assert public <= set(exported)
    for n in exported:
        assert hasattr(module, n), n
