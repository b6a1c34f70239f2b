"""Fault injection shared by every sandbox: throttling storms, server errors, slowness, dropped
connections and expired tokens, set per run (in code or over HTTP at /_sandbox/faults).

The plan draws from its own seeded random generator, so a failing chaos run can be replayed.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from dataclasses import asdict, dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ml_connector.clock import Clock

CONTROL_PATH = "/_sandbox/faults"


@dataclass
class FaultPlan:
    """Probabilities per request (0..1) of each fault; ``slow_seconds`` is simulated time."""

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_slow: float = 0.0
    slow_seconds: float = 0.0
    rate_drop: float = 0.0
    rate_expire_token: float = 0.0  # the sandbox's auth treats the presented token as expired
    # A long-running action (Acumatica's release) accepted with 202 that then fails in the
    # background: its status URL answers the failure and the record stays unreleased.
    rate_action_failure: float = 0.0
    seed: int = 0
    exempt_prefixes: tuple[str, ...] = field(default=(CONTROL_PATH, "/_sandbox"))

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self.injected: dict[str, int] = {}
        self.requests = 0  # every request the sandbox answered (faulted or not): the demo's call counts

    def draw(self) -> str | None:
        """Which fault (if any) this request gets."""
        with self._lock:
            self.requests += 1
            roll = self._rng.random()
            for name in ("429", "500", "503", "slow", "drop", "expire_token"):
                rate = getattr(self, f"rate_{name}")
                if roll < rate:
                    self.injected[name] = self.injected.get(name, 0) + 1
                    return name
                roll -= rate
        return None

    def draw_action_failure(self) -> bool:
        """Whether the action just accepted fails later on the server."""
        if self.rate_action_failure <= 0:
            return False
        with self._lock:
            failed = self._rng.random() < self.rate_action_failure
            if failed:
                self.injected["action_failure"] = self.injected.get("action_failure", 0) + 1
            return failed

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("exempt_prefixes", None)
        data["injected"] = dict(self.injected)
        data["requests"] = self.requests
        return data


class FaultInjectionMiddleware:
    """Wraps a sandbox app. The token-expiry fault is handed to the app through
    ``scope["state"]["force_token_expired"]`` because only the app knows its auth scheme."""

    def __init__(
        self, app: ASGIApp, plan: FaultPlan, clock: Clock, throttle_body: bytes | None = None
    ) -> None:
        self.app = app
        self.plan = plan
        self.clock = clock
        self.throttle_body = (
            throttle_body
            or json.dumps(
                {
                    "errors": [
                        {
                            "code": "QuotaExceeded",
                            "message": "You exceeded your quota for the requested resource.",
                        }
                    ]
                }
            ).encode()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path == CONTROL_PATH:
            await self._control(scope, receive, send)
            return
        if any(path.startswith(prefix) for prefix in self.plan.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        fault = self.plan.draw()
        if fault == "429":
            await Response(self.throttle_body, 429, media_type="application/json")(scope, receive, send)
        elif fault in ("500", "503"):
            body = json.dumps({"errors": [{"code": "InternalFailure", "message": "Injected server error"}]})
            await Response(body, int(fault), media_type="application/json")(scope, receive, send)
        elif fault == "drop":
            # Promise a body, send none, and fail: the server closes the connection mid-response.
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]}
            )
            raise ConnectionAbortedError("injected dropped connection")
        else:
            if fault == "slow":
                await asyncio.sleep(self.plan.slow_seconds / self.clock.scale)
            if fault == "expire_token":
                scope.setdefault("state", {})["force_token_expired"] = True
            await self.app(scope, receive, send)

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method == "POST":
            values = await request.json()
            new = FaultPlan(**{k: v for k, v in values.items() if k in FaultPlan.__dataclass_fields__})
            counted = self.plan.requests
            self.plan.__dict__.update(new.__dict__)
            self.plan.requests = counted
        await JSONResponse(self.plan.to_dict())(scope, receive, send)
