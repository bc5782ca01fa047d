from __future__ import annotations

import pytest

from fastcore import compiled, reference

ENGINES = {"reference": reference.Engine, "compiled": compiled.Engine}


@pytest.fixture(params=sorted(ENGINES))
def Engine(request: pytest.FixtureRequest) -> type:
    """Each test using it runs once per engine: one test class, both twins."""
    return ENGINES[request.param]
