"""The flows by name. Each flow module exposes ``run(ctx: FlowContext) -> FlowSummary`` and registers
its replay rebuilders at import time."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ml_connector.config import FLOWS
from ml_connector.errors import ConfigurationError
from ml_connector.flows.context import FlowContext, FlowSummary

FlowRun = Callable[[FlowContext], FlowSummary]

_MODULES = {flow: f"ml_connector.flows.{flow}" for flow in FLOWS}


def flow(name: str) -> FlowRun:
    if name not in _MODULES:
        raise KeyError(f"unknown flow {name!r}; flows are {', '.join(FLOWS)}")
    try:
        module = importlib.import_module(_MODULES[name])
    except ImportError as exc:
        raise ConfigurationError(f"flow {name!r} cannot be loaded ({exc}); reinstall ml-connector") from None
    return module.run
