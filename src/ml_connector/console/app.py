"""The console as an ASGI app: routes, security headers, sign-in redirects, error pages."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ml_connector.console import pages, posts
from ml_connector.console.web import Console, SignInRequired, render, signed_in
from ml_connector.engine.store import Store
from ml_connector.ops.users import SESSION_TTL

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                names = {name for name, _ in message["headers"]}
                message["headers"] += [(n, v) for n, v in SECURITY_HEADERS if n not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _sign_in_first(request: Request, exc: Exception) -> Response:
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": "/signin"})
    return RedirectResponse(f"/signin?next={request.url.path}", status_code=303)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    request.state.user = signed_in(request)
    titles = {403: "Not allowed", 404: "Not found", 405: "Not allowed"}
    response = render(
        request,
        "error.html",
        status=exc.status_code,
        title=titles.get(exc.status_code, "Error"),
        detail=exc.detail,
    )
    response.status_code = exc.status_code
    return response


def create_app(
    store: Store, config_path: Path, *, secure_cookies: bool = False, session_ttl: timedelta = SESSION_TTL
) -> Starlette:
    from ml_connector.flows.registry import install_rebuilders

    install_rebuilders()
    routes = [
        Route("/", pages.overview),
        Route("/signin", posts.sign_in_page, methods=["GET"]),
        Route("/signin", posts.sign_in, methods=["POST"]),
        Route("/signout", posts.sign_out, methods=["POST"]),
        Route("/problems", pages.problems),
        Route("/problems.csv", pages.problems_csv),
        Route("/problems/bulk", posts.bulk, methods=["POST"]),
        Route("/settlements", pages.settlements),
        Route("/settlements/{id:int}", pages.settlement),
        Route("/settlements/{id:int}/raw", pages.settlement_raw),
        Route("/settlements/{id:int}/add-rule", posts.add_rule, methods=["POST"]),
        Route("/orders", pages.record_list),
        Route("/stock-price", pages.record_list),
        Route("/shipments", pages.record_list),
        Route("/skus", pages.skus),
        Route("/skus/map", posts.map_sku, methods=["POST"]),
        Route("/records/{id:int}", pages.record),
        Route("/records/{id:int}/retry", posts.retry, methods=["POST"]),
        Route("/records/{id:int}/resolve", posts.resolve, methods=["POST"]),
        Route("/runs", pages.runs),
        Route("/connections", pages.connections),
        Route("/connections/new", posts.new_connection_page, methods=["GET"]),
        Route("/connections/new", posts.add_connection, methods=["POST"]),
        Route("/connections/{name}/credentials", posts.rotate_credentials, methods=["POST"]),
        Route("/connections/{name}/{action:str}", posts.connection_action, methods=["POST"]),
        Route("/activity", pages.activity),
        Route("/users", posts.users_page, methods=["GET"]),
        Route("/users", posts.add_user, methods=["POST"]),
        Route("/users/{name}/remove", posts.remove_user, methods=["POST"]),
        Route("/users/{name}/role", posts.set_role, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={SignInRequired: _sign_in_first, HTTPException: _http_error},
    )
    app.state.console = Console(store, Path(config_path), secure_cookies, session_ttl)
    return app
