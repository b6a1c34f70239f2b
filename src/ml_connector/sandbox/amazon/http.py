"""Request plumbing shared by the sandbox's routes: Amazon's error shape and headers, the
per-operation guard (token, RDT, usage-plan bucket), opaque page tokens and the date rules."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ml_connector.sandbox.amazon.state import IssuedToken, SandboxState
from ml_connector.sources.amazon.limits import USAGE_PLANS

TWO_MINUTES = timedelta(minutes=2)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: str = "") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def error_response(
    status: int,
    code: str,
    message: str,
    details: str = "",
    operation: str | None = None,
    rate: float | None = None,
) -> Response:
    body = {"errors": [{"code": code, "message": message, "details": details}]}
    headers = {"x-amzn-RequestId": str(uuid.uuid4())}
    if operation and status in (400, 404):
        headers["x-amzn-RateLimit-Limit"] = str(rate if rate is not None else USAGE_PLANS[operation].rate)
    if status == 403:
        headers["x-amzn-ErrorType"] = "AccessDeniedException"
    return JSONResponse(body, status_code=status, headers=headers)


def bad_input(message: str, details: str = "") -> ApiError:
    return ApiError(400, "InvalidInput", message, details)


Handler = Callable[[Request, SandboxState, IssuedToken], Awaitable[Response | dict | tuple[int, dict] | None]]


def _denied(details: str) -> Response:
    return error_response(403, "Unauthorized", "Access to requested resource is denied.", details)


def operation(name: str, state: SandboxState, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: token check (honouring the expired-token fault), the operation's bucket,
    then Amazon's headers on the answer. An RDT is accepted only on the resources it names."""

    async def endpoint(request: Request) -> Response:
        value = request.headers.get("x-amz-access-token")
        if not value:
            return _denied("Access token is missing in the request header.")
        issued = state.token(value)
        forced = bool(request.scope.get("state", {}).get("force_token_expired"))
        if issued is None or forced or issued.kind == "grantless":
            return _denied("The access token you provided is revoked, malformed or invalid.")
        if issued.kind == "rdt" and not rdt_covers(issued, request.method, request.url.path):
            return _denied("The restricted data token does not grant access to this resource.")
        if not state.admit(name):
            return JSONResponse(
                {
                    "errors": [
                        {
                            "code": "QuotaExceeded",
                            "message": "You exceeded your quota for the requested resource.",
                        }
                    ]
                },
                status_code=429,
                headers={"x-amzn-RequestId": str(uuid.uuid4())},
            )
        try:
            result = await handler(request, state, issued)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.details, name, state.rate(name))
        headers = {
            "x-amzn-RequestId": str(uuid.uuid4()),
            "x-amzn-RateLimit-Limit": str(state.rate(name)),
        }
        if result is None:
            return Response(status_code=204, headers=headers)
        if isinstance(result, Response):
            result.headers.update(headers)
            return result
        status, body = result if isinstance(result, tuple) else (200, result)
        return JSONResponse(body, status_code=status, headers=headers)

    return endpoint


def rdt_covers(token: IssuedToken, method: str, path: str) -> bool:
    return any(
        resource["method"] == method and _path_matches(resource["path"], path) for resource in token.resources
    )


def rdt_elements(token: IssuedToken, method: str, path: str) -> set[str]:
    """The data elements an RDT grants for this resource (an access token grants none)."""
    if token.kind != "rdt":
        return set()
    elements: set[str] = set()
    for resource in token.resources:
        if resource["method"] == method and _path_matches(resource["path"], path):
            elements.update(resource.get("dataElements") or ())
    return elements


def _path_matches(template: str, path: str) -> bool:
    pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
    return re.match(pattern, path) is not None


def origin(request: Request) -> str:
    """The sandbox's own address for the URLs it hands out (presigned downloads and uploads):
    the socket it listens on, never the Host header, which some clients fill with a name that
    resolves elsewhere (python-amazon-sp-api sends ``endpoint[8:]``)."""
    server = request.scope.get("server")
    if not server or server[1] is None:
        return str(request.base_url).rstrip("/")
    host, port = server
    return f"{request.url.scheme}://{host}:{port}"


# -- parameters -------------------------------------------------------------------------------------


def csv(request: Request, name: str) -> list[str]:
    values: list[str] = []
    for raw in request.query_params.getlist(name):
        values.extend(v for v in raw.split(",") if v)
    return values


def parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad_input(f"Invalid {name}: {value!r} is not an ISO 8601 date-time.") from None
    if parsed.tzinfo is None:
        raise bad_input(f"Invalid {name}: a time zone is required.")
    return parsed


def before_bound(state: SandboxState, value: str | None, name: str) -> datetime:
    """A *Before parameter: at least two minutes before now; omitted means now minus two minutes."""
    latest = state.clock.now() - TWO_MINUTES
    parsed = parse_time(value, name)
    if parsed is None:
        return latest
    if parsed > latest:
        raise bad_input(f"{name} must be no later than 2 minutes before the time of the request.")
    return parsed


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_input(f"Invalid {name}: {raw!r}.") from None
    if not low <= value <= high:
        raise bad_input(f"{name} must be between {low} and {high}.")
    return value


def fingerprint(request: Request, token_name: str, free: tuple[str, ...] = ()) -> str:
    """The filters a page token is bound to: every parameter but the token and those the model
    lets change between pages (``free``)."""
    skip = {token_name, *free}
    items = sorted((k, v) for k, v in request.query_params.multi_items() if k not in skip)
    return hashlib.sha1(json.dumps(items).encode()).hexdigest()[:16]


def encode_token(offset: int, fp: str, extra: dict | None = None) -> str:
    raw = json.dumps({"o": offset, "f": fp, **(extra or {})}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str | None, fp: str | None) -> tuple[int, dict]:
    """Offset and payload of a page token; the filters must be the ones it was issued for."""
    if not token:
        return 0, {}
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset = int(data["o"])
    except (ValueError, KeyError, TypeError):
        raise bad_input("Invalid NextToken.") from None
    if fp is not None and data.get("f") != fp:
        raise bad_input("The NextToken does not match the request's other parameters.")
    return offset, data


async def json_body(request: Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        raise bad_input("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise bad_input("The request body must be a JSON object.")
    return body
