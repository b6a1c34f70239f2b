"""What every console page and action shares: who is signed in, CSRF, roles, rendering, money."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from ml_connector.config import DeploymentConfig, load_config
from ml_connector.engine.store import Store
from ml_connector.errors import MlConnectorError
from ml_connector.ops import users
from ml_connector.ops.classify import CLASSES, SHORT
from ml_connector.ops.roles import can, require
from ml_connector.ops.throttle import SignInThrottle

COOKIE = "mlc_session"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


@dataclass
class Console:
    """The console's world: the store, the configuration file, how cookies are set."""

    store: Store
    config_path: Path
    secure_cookies: bool
    session_ttl: Any
    throttle: SignInThrottle = field(default_factory=SignInThrottle)

    def config(self) -> DeploymentConfig | None:
        try:
            return load_config(self.config_path)
        except MlConnectorError:
            return None


def console(request: Request) -> Console:
    return request.app.state.console


def signed_in(request: Request) -> users.SignedIn | None:
    return users.session_of(console(request).store, request.cookies.get(COOKIE))


class SignInRequired(Exception):
    """Raised by pages for a visitor without a live session: answered with a redirect to sign in."""


def user_of(request: Request) -> users.SignedIn:
    user = signed_in(request)
    if user is None:
        raise SignInRequired()
    request.state.user = user
    return user


async def checked_form(request: Request, action: str | None = None) -> tuple[users.SignedIn, Any]:
    """A state-changing request: signed in, same origin, the session's CSRF token, the role's right."""
    user = user_of(request)
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.url.netloc:
        raise HTTPException(403, "cross-site request refused")
    form = await request.form()
    token = str(form.get("csrf_token") or request.headers.get("x-csrf-token") or "")
    if not secrets.compare_digest(token, user.csrf_token):
        raise HTTPException(
            403, "the form's security token is missing or stale: reload the page and try again"
        )
    if action is not None:
        require_role(user, action)
    return user, form


def require_role(user: users.SignedIn, action: str) -> None:
    from ml_connector.ops.roles import Forbidden

    try:
        require(user.user, user.role, action)
    except Forbidden as exc:
        raise HTTPException(403, str(exc)) from None


def back(request: Request, path: str, **params: Any) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


def render(request: Request, template: str, **context: Any) -> Response:
    user = getattr(request.state, "user", None)
    context.update(
        user=user,
        can=(lambda action: user is not None and can(user.role, action)),
        csrf=user.csrf_token if user else "",
        msg=request.query_params.get("msg"),
        error=request.query_params.get("error"),
        classes=CLASSES,
        short_classes=SHORT,
    )
    return TEMPLATES.TemplateResponse(request, template, context)


def money(amount: Any, currency: str | None = None) -> str:
    """1234.5, 'USD' -> '1,234.50 USD'; a Money as well; '-' when unknown."""
    if amount is None or amount == "":
        return "-"
    if hasattr(amount, "amount") and hasattr(amount, "currency"):
        amount, currency = amount.amount, amount.currency
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    places = 0 if currency in ("JPY",) else 2
    text = f"{value:,.{places}f}"
    return f"{text} {currency}" if currency else text


def when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "-"


STATE_WORDS = {
    "posted": "posted",
    "found_existing": "already in the ERP",
    "failed": "failed",
    "pending": "waiting",
    "resolved": "resolved by hand",
    "duplicate_suspected": "possible duplicate",
}


def settings_rows(values: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A settings mapping as (dotted key, value in words) rows, for a two-column table."""
    rows: list[tuple[str, str]] = []
    for key, value in sorted((values or {}).items()):
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += settings_rows(value, f"{name}.") if value else [(name, "-")]
        elif isinstance(value, list | tuple):
            rows.append((name, ", ".join(str(v) for v in value) or "-"))
        elif isinstance(value, bool):
            rows.append((name, "yes" if value else "no"))
        else:
            rows.append((name, "-" if value in (None, "") else str(value)))
    return rows


TEMPLATES.env.filters["money"] = money
TEMPLATES.env.filters["settings_rows"] = settings_rows
TEMPLATES.env.filters["when"] = when
TEMPLATES.env.filters["state_words"] = lambda s: STATE_WORDS.get(s, str(s).replace("_", " "))
TEMPLATES.env.globals["STATE_WORDS"] = STATE_WORDS
