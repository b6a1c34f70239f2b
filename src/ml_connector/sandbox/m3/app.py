"""The ION API gateway + M3 sandbox: token endpoint, MI REST (v1, v2 single, v2 bulk), per-tenant
spike arrest (429 without Retry-After, as the gateway documents nothing more), token expiry and
revocation, and a read-only view of what was posted under /_sandbox/m3 (exempt from faults)."""

from __future__ import annotations

import json
import secrets
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ml_connector.clock import Clock
from ml_connector.sandbox.faults import FaultInjectionMiddleware, FaultPlan
from ml_connector.sandbox.m3 import world as tenant
from ml_connector.sandbox.m3.metadata import MiCatalog, load
from ml_connector.sandbox.m3.mi import OPTION_NAMES, execute, v1_body, v2_envelope, v2_result
from ml_connector.sandbox.m3.world import M3World, MiFault
from ml_connector.transport.ratelimit import TokenBucket

TENANT = "MLC_TST"
CLIENT_ID = f"{TENANT}~sandbox-client-0001"
CLIENT_SECRET = "sandbox-client-secret-not-real"
SERVICE_ACCOUNT_KEY = f"{TENANT}#sandbox-service-account"
SERVICE_ACCOUNT_SECRET = "sandbox-service-account-secret-not-real"


def GATEWAY_TIMEOUT() -> Response:  # noqa: N802 - reads like the constant it stands for
    return JSONResponse({"error": "Gateway Timeout", "message": "The target did not answer in time"}, 504)


THROTTLE_BODY = json.dumps({"error": "Too Many Requests", "message": "Spike arrest violation"}).encode()


def ionapi_document(base_url: str) -> dict:
    """The .ionapi file for the sandbox tenant (what `ml-connector sandbox ionapi` prints)."""
    base = base_url.rstrip("/")
    return {
        "ti": TENANT,
        "cn": "ml-connector sandbox",
        "dt": "12",
        "ci": CLIENT_ID,
        "cs": CLIENT_SECRET,
        "iu": base,
        "pu": f"{base}/{TENANT}/as/",
        "oa": "authorization.oauth2",
        "ot": "token.oauth2",
        "or": "revoke_token.oauth2",
        "ev": "U000000000",
        "v": "1.0",
        "saak": SERVICE_ACCOUNT_KEY,
        "sask": SERVICE_ACCOUNT_SECRET,
    }


@dataclass
class Gateway:
    """Tenant-wide gateway state: issued tokens and the spike-arrest bucket."""

    clock: Clock
    token_lifetime: float
    throttle: TokenBucket
    tokens: dict[str, float] = field(default_factory=dict)  # access token -> expiry (clock.monotonic)
    used: set[str] = field(default_factory=set)  # tokens presented at least once
    app_disabled: bool = False  # the authorized app deactivated in ION: every token is refused
    grants: int = 0
    revoked: int = 0
    throttled: int = 0

    def issue(self) -> str:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = self.clock.monotonic() + self.token_lifetime
        self.grants += 1
        return token

    def valid(self, token: str) -> bool:
        expiry = self.tokens.get(token)
        return expiry is not None and self.clock.monotonic() < expiry

    def expire(self, token: str) -> bool:
        """An injected expiry: the token dies now, as one can underneath a client. A token never used
        before is fresh from the token endpoint and does not expire on its first call."""
        if token not in self.used:
            return False
        self.tokens.pop(token, None)
        return True

    def expire_all(self) -> None:
        self.tokens.clear()


@dataclass
class M3Sandbox:
    world: M3World = field(repr=False)
    gateway: Gateway = field(repr=False)
    catalog: MiCatalog = field(repr=False)
    # "PROGRAM.Transaction" -> how many times to run it and then lose the reply (a gateway 504
    # after M3 did the work: the case where resending a non-idempotent Add makes a duplicate)
    lose_replies: Counter = field(default_factory=Counter, repr=False)
    # What the benchmarks quote: MI transactions run ("PROGRAM.Transaction" -> count) and the bytes
    # of the MI answers sent back.
    transactions: Counter = field(default_factory=Counter, repr=False)
    answer_bytes: int = 0

    def answered(self, program: str, names: list[str], response: Response) -> Response:
        for name in names:
            self.transactions[f"{program}.{name}"] += 1
        self.answer_bytes += len(response.body)
        return response

    def reply_lost(self, program: str, transactions: list[str]) -> bool:
        for name in transactions:
            if self.lose_replies[f"{program}.{name}"] > 0:
                self.lose_replies[f"{program}.{name}"] -= 1
                return True
        return False

    # The hooks tests and the demo use, delegated to the world.
    def deliver(self, order_no: str, carrier: str = "UPS", tracking: str | None = None, when=None) -> str:
        return self.world.deliver(order_no, carrier, tracking, when)

    def invoice(self, order_no: str, when=None) -> str:
        return self.world.invoice(order_no, when)

    def vouchers(self) -> list[dict]:
        return self.world.posted_vouchers()

    def stats(self) -> dict:
        """What the benchmarks read from a sandbox in another process."""
        return {"transactions": dict(self.transactions), "answer_bytes": self.answer_bytes}

    def orders(self) -> list[dict]:
        return self.world.posted_orders()

    def customers(self) -> list[dict]:
        return self.world.posted_customers()


def _form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _basic(request: Request) -> tuple[str, str] | None:
    import base64

    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)


def create_app(
    *,
    clock: Clock,
    seed: int = 7,
    faults: FaultPlan | None = None,
    token_lifetime: float = 7200.0,
    rate_per_second: float = 50.0,
    burst: float = 100.0,
) -> Starlette:
    sandbox = M3Sandbox(
        M3World(clock, seed),
        Gateway(clock, token_lifetime, TokenBucket(rate_per_second, burst, clock=clock)),
        load(),
    )
    gateway, world, catalog = sandbox.gateway, sandbox.world, sandbox.catalog

    refresh_tokens: set[str] = set()

    async def token(request: Request) -> Response:
        if request.path_params["tenant"] != TENANT:
            return PlainTextResponse("Not Found", 404)
        form = _form(await request.body())
        client = _basic(request) or (form.get("client_id", ""), form.get("client_secret", ""))
        if client != (CLIENT_ID, CLIENT_SECRET):
            return _oauth_error(401, "invalid_client", "Invalid client or client credentials")
        grant = form.get("grant_type")
        if grant == "refresh_token":
            # Infor ION API issues refresh tokens when the backend service app enables them
            if form.get("refresh_token", "") not in refresh_tokens:
                return _oauth_error(400, "invalid_grant", "Invalid refresh token")
        elif grant != "password":
            return _oauth_error(
                400, "unsupported_grant_type", "Only the password and refresh_token grants are enabled"
            )
        elif (form.get("username"), form.get("password")) != (SERVICE_ACCOUNT_KEY, SERVICE_ACCOUNT_SECRET):
            return _oauth_error(400, "invalid_grant", "Invalid service account credentials")
        refresh = secrets.token_urlsafe(24)
        refresh_tokens.add(refresh)
        return JSONResponse(
            {
                "access_token": gateway.issue(),
                "token_type": "Bearer",
                "expires_in": int(gateway.token_lifetime),
                "refresh_token": refresh,
            }
        )

    async def revoke(request: Request) -> Response:
        form = _form(await request.body())
        if gateway.tokens.pop(form.get("token", ""), None) is not None:
            gateway.revoked += 1
        return Response(status_code=200)

    def admit(request: Request) -> Response | None:
        """Gateway checks in order: tenant path, bearer token, spike arrest."""
        if request.path_params["tenant"] != TENANT:
            return PlainTextResponse("Not Found", 404)
        header = request.headers.get("authorization", "")
        presented = header[7:] if header.lower().startswith("bearer ") else ""
        forced = getattr(request.state, "force_token_expired", False) and gateway.expire(presented)
        if gateway.app_disabled or forced or not gateway.valid(presented):
            return JSONResponse(
                {"error": "invalid_token", "error_description": "The access token is expired or invalid"}, 401
            )
        gateway.used.add(presented)
        if not gateway.throttle.try_take():
            gateway.throttled += 1
            return Response(THROTTLE_BODY, 429, media_type="application/json")
        return None

    def split_options(request: Request, segment: str) -> tuple[str, dict[str, str], dict[str, str]]:
        name, *matrix = segment.split(";")
        options = {k.lower(): v for k, _, v in (m.partition("=") for m in matrix)}
        fields = {}
        for key, value in request.query_params.items():
            if key.lower() in OPTION_NAMES:
                options[key.lower()] = value
            else:
                fields[key] = value
        return name, fields, options

    async def execute_v1(request: Request) -> Response:
        refused = admit(request)
        if refused is not None:
            return refused
        program = request.path_params["program"]
        transaction, fields, options = split_options(request, request.path_params["transaction"])
        try:
            rows = execute(world, catalog, program, transaction, fields, options)
        except MiFault as fault:
            return sandbox.answered(
                program, [transaction], JSONResponse(v1_body(None, program, transaction, None, fault))
            )
        if sandbox.reply_lost(program, [transaction]):
            return GATEWAY_TIMEOUT()
        body = v1_body(catalog.get(program, transaction), program, transaction, rows, None)
        return sandbox.answered(program, [transaction], JSONResponse(body))

    async def execute_v2(request: Request) -> Response:
        refused = admit(request)
        if refused is not None:
            return refused
        program = request.path_params["program"]
        transaction, fields, options = split_options(request, request.path_params["transaction"])
        try:
            rows = execute(world, catalog, program, transaction, fields, options)
        except MiFault as fault:
            refused = JSONResponse(v2_envelope([v2_result(transaction, None, fault)]), 400)
            return sandbox.answered(program, [transaction], refused)
        if sandbox.reply_lost(program, [transaction]):
            return GATEWAY_TIMEOUT()
        pad = None
        if options.get("righttrim", "true").lower() == "false":
            tx = catalog.get(program, transaction)
            pad = {name: length for name, _, length in tx.outputs} if tx else None
        answer = JSONResponse(v2_envelope([v2_result(transaction, rows, None, pad)]))
        return sandbox.answered(program, [transaction], answer)

    async def execute_bulk(request: Request) -> Response:
        refused = admit(request)
        if refused is not None:
            return refused
        try:
            body = await request.json()
            program = str(body["program"])
            transactions = list(body["transactions"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse(
                {"errorMessage": "Invalid bulk request body", "errorType": "ServerReturnedNOK"}, 400
            )
        # public tools give cono/divi/maxrecs on the query string; the body's fields win
        options = {
            k: v for k, v in request.query_params.items() if k in ("cono", "divi", "maxrecs", "excludempty")
        }
        if "maxReturnedRecords" in body or "maxrecs" not in options:
            options["maxrecs"] = str(body.get("maxReturnedRecords", 0))
        if body.get("cono") is not None:
            options["cono"] = str(body["cono"])
        if body.get("divi"):
            options["divi"] = str(body["divi"])
        results = []
        for item in transactions:
            name = str(item.get("transaction", ""))
            record = {str(k): str(v) for k, v in (item.get("record") or {}).items()}
            try:
                results.append(v2_result(name, execute(world, catalog, program, name, record, options), None))
            except MiFault as fault:
                results.append(v2_result(name, None, fault))
        names = [str(t.get("transaction", "")) for t in transactions]
        if sandbox.reply_lost(program, names):
            return GATEWAY_TIMEOUT()
        return sandbox.answered(program, names, JSONResponse(v2_envelope(results)))

    async def view(request: Request) -> Response:
        what = request.path_params["what"]
        views = {
            "vouchers": sandbox.vouchers,
            "orders": sandbox.orders,
            "customers": sandbox.customers,
            "stats": lambda: sandbox.stats() | {"requests": plan.requests},
        }
        if what not in views:
            return JSONResponse({"error": f"no view {what}"}, 404)
        return JSONResponse(views[what]())

    async def deliver(request: Request) -> Response:
        body = await request.json()
        try:
            dlix = sandbox.deliver(
                str(body["order_no"]), str(body.get("carrier", "UPS")), body.get("tracking")
            )
        except KeyError:
            return JSONResponse({"error": "unknown order"}, 404)
        return JSONResponse({"DLIX": dlix})

    prefix = "/{tenant}/M3/m3api-rest"
    plan = faults or FaultPlan()
    app = Starlette(
        routes=[
            Route("/{tenant}/as/token.oauth2", token, methods=["POST"]),
            Route("/{tenant}/as/revoke_token.oauth2", revoke, methods=["POST", "GET"]),
            Route(prefix + "/execute/{program}/{transaction}", execute_v1, methods=["GET"]),
            Route(prefix + "/v2/execute/{program}/{transaction}", execute_v2, methods=["GET"]),
            Route(prefix + "/v2/execute", execute_bulk, methods=["POST"]),
            Route("/_sandbox/m3/deliver", deliver, methods=["POST"]),
            Route("/_sandbox/m3/{what}", view, methods=["GET"]),
        ],
        middleware=[
            Middleware(FaultInjectionMiddleware, plan=plan, clock=clock, throttle_body=THROTTLE_BODY)
        ],
    )
    app.state.sandbox = sandbox
    app.state.faults = plan
    return app


__all__ = ["TENANT", "M3Sandbox", "create_app", "ionapi_document", "tenant"]
