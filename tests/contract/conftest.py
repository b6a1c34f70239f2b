"""The contract suite's one fixture: ``erp``, the same tests over the fake target, M3 and Acumatica."""

from __future__ import annotations

from pathlib import Path

import pytest

from acumatica.conftest import acumatica, clock, sandbox_config  # noqa: F401  (fixtures reused as they are)
from m3.conftest import m3  # noqa: F401

from .erps import AcumaticaErp, Erp, FakeErp, M3Erp


@pytest.fixture(params=["fake", "m3", "acumatica"])
def erp(request: pytest.FixtureRequest, tmp_path: Path) -> Erp:
    if request.param == "fake":
        return FakeErp(tmp_path)
    if request.param == "m3":
        return M3Erp(request.getfixturevalue("m3"))
    return AcumaticaErp(request.getfixturevalue("acumatica"))
