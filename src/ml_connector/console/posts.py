"""The console's actions (POST): each checks the session, the CSRF token and the role, calls one
ops action (which audits it with the user) and redirects back with what happened, in words."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ml_connector.console.web import COOKIE, back, checked_form, console, render, require_role
from ml_connector.errors import MlConnectorError
from ml_connector.ops import actions, queries, users
from ml_connector.ops.roles import retry_action

BULK_LIMIT = 500


def _safe_next(value: object, default: str) -> str:
    text = str(value or "")
    local = text.startswith("/") and not text.startswith("//") and "\\" not in text and "\n" not in text
    return text if local else default


async def sign_in_page(request: Request) -> Response:
    return render(request, "signin.html", next=_safe_next(request.query_params.get("next"), "/"))


async def sign_in(request: Request) -> Response:
    form = await request.form()
    c = console(request)
    name, address = str(form.get("name") or ""), request.client.host if request.client else "?"
    wait = c.throttle.retry_after(name, address)
    if wait is not None:  # refused before the password is even checked: no guess is tested
        response = render(
            request,
            "signin.html",
            next=_safe_next(form.get("next"), "/"),
            throttled=f"{wait // 60} min {wait % 60} s" if wait >= 60 else f"{wait} s",
        )
        response.status_code = 429
        response.headers["Retry-After"] = str(wait)
        return response
    token = users.sign_in(c.store, name, str(form.get("password") or ""), ttl=c.session_ttl)
    if token is None:
        c.throttle.failed(name, address)
        return render(request, "signin.html", next=_safe_next(form.get("next"), "/"), failed=True)
    c.throttle.succeeded(name)
    response = RedirectResponse(_safe_next(form.get("next"), "/"), status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(c.session_ttl.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=c.secure_cookies,
        path="/",
    )
    return response


async def sign_out(request: Request) -> Response:
    await checked_form(request)
    users.sign_out(console(request).store, request.cookies.get(COOKIE))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _record(request: Request):  # noqa: ANN202
    return console(request).store.record(int(request.path_params["id"]))


async def retry(request: Request) -> Response:
    rec = _record(request)
    user, form = await checked_form(request, retry_action(rec.kind))
    result = actions.retry(console(request).store, rec.id, user=user.user)
    where = _safe_next(form.get("next"), f"/records/{rec.id}")
    return back(request, where, **({"msg": result.line} if result.ok else {"error": result.line}))


async def resolve(request: Request) -> Response:
    rec = _record(request)
    user, form = await checked_form(request, "resolve")
    where = _safe_next(form.get("next"), f"/records/{rec.id}")
    try:
        actions.resolve(console(request).store, rec.id, str(form.get("reason") or ""), user=user.user)
    except MlConnectorError as exc:
        return back(request, where, error=str(exc))
    return back(request, where, msg=f"#{rec.id} {rec.key} resolved")


async def map_sku(request: Request) -> Response:
    user, form = await checked_form(request, "map_sku")
    sku, item = (
        str(form.get("sku") or "").strip(),
        str(form.get("item") or form.get("other_item") or "").strip(),
    )
    if form.get("other_item"):
        item = str(form["other_item"]).strip()
    connection = str(form.get("connection") or "")
    where = _safe_next(form.get("next"), "/skus")
    try:
        results = actions.map_sku(
            console(request).store,
            connection,
            sku,
            item,
            user=user.user,
            config_path=console(request).config_path,
        )
    except MlConnectorError as exc:
        return back(request, where, error=str(exc))
    lines = "; ".join(r.line for r in results) or "no record waited for it"
    return back(request, where, msg=f"SKU {sku} mapped to {item}, saved to config.toml. Retried: {lines}")


async def add_rule(request: Request) -> Response:
    rec = _record(request)
    user, form = await checked_form(request, "add_rule")
    fields = {
        k: str(form.get(k) or "")
        for k in (
            "transaction_type",
            "amount_type",
            "amount_description",
            "account",
            "category",
            "description",
        )
    }
    where = _safe_next(form.get("next"), f"/settlements/{rec.id}")
    try:
        path, result = actions.add_rule(
            console(request).store, rec.id, fields, user=user.user, config_path=console(request).config_path
        )
    except MlConnectorError as exc:
        return back(request, where, error=str(exc))
    text = f"rule added to {path.name}; retry: {result.line}"
    return back(request, where, **({"msg": text} if result.ok else {"error": text}))


async def bulk(request: Request) -> Response:
    user, form = await checked_form(request)
    action = str(form.get("action") or "")
    c = console(request)
    ids = [int(v) for v in form.getlist("ids") if str(v).isdigit()]
    total = len(ids)
    if not ids:  # the whole filtered set
        found = queries.problems(c.store, **_problem_filters(form), limit=BULK_LIMIT)
        ids, total = [r.id for r in found.rows], found.total
    if action == "resolve":
        require_role(user, "resolve")
    else:
        for record_id in ids:
            require_role(user, retry_action(c.store.record(record_id).kind))
    try:
        lines = actions.bulk(
            c.store, ids[:BULK_LIMIT], action, user=user.user, reason=str(form.get("reason") or "")
        )
    except MlConnectorError as exc:
        return back(request, "/problems", error=str(exc))
    done = sum(1 for line in lines if line.ok)
    words = f"{action}: {done} of {len(lines)} records acted on"
    if total > len(lines):
        words += f" (the first {len(lines)} of the {total} the filter shows; apply again for the rest)"
    shown = " | ".join(line.line for line in lines[:10]) + (" | ..." if len(lines) > 10 else "")
    return back(request, "/problems", **{"msg" if done else "error": f"{words}. {shown}"})


def _problem_filters(form) -> dict:  # noqa: ANN001
    def text(name: str) -> str | None:
        return str(form.get(name) or "").strip() or None

    return {
        "connection": text("connection"),
        "flow": text("flow"),
        "error_class": text("class"),
        "search": text("q"),
        "amount": text("amount"),
        "day": text("day"),
    }


async def connection_action(request: Request) -> Response:
    name, what = request.path_params["name"], request.path_params["action"]
    user, form = await checked_form(
        request, {"ping": "ping", "run": "run_now", "pause": "pause", "resume": "pause"}.get(what, "none")
    )
    c = console(request)
    where = _safe_next(form.get("next"), "/connections")
    try:
        if what == "ping":
            results = actions.ping(c.store, name, user=user.user, config=c.config())
            words = "; ".join(
                f"{system}: {'answers, credentials accepted' if not p else ' / '.join(p)}"
                for system, p in results
            )
            ok = all(not p for _, p in results)
            return back(
                request,
                where,
                **({"msg": f"ping {name}: {words}"} if ok else {"error": f"ping {name}: {words}"}),
            )
        if what == "run":
            flow = str(form.get("flow") or "")
            actions.run_now(c.store, name, flow, user=user.user, config=c.config(), background=True)
            return back(
                request,
                "/runs",
                connection=name,
                msg=f"{flow} started on {name}; it appears below when it ends",
            )
        if what == "pause":
            actions.pause(c.store, name, user=user.user, reason=str(form.get("reason") or "") or None)
            return back(request, where, msg=f"{name} paused: no flow of it runs until it is resumed")
        actions.resume(c.store, name, user=user.user)
        return back(request, where, msg=f"{name} resumed")
    except MlConnectorError as exc:
        return back(request, where, error=str(exc))


async def new_connection_page(request: Request) -> Response:
    from ml_connector.console.web import user_of

    user = user_of(request)
    require_role(user, "add_connection")
    from ml_connector.sources.amazon.regions import MARKETPLACES

    return render(request, "connection_new.html", marketplaces=MARKETPLACES, form={}, nav="connections")


async def add_connection(request: Request) -> Response:
    from ml_connector.ops.connections import NewConnection
    from ml_connector.ops.connections import add_connection as add
    from ml_connector.sources.amazon.regions import MARKETPLACES

    user, form = await checked_form(request, "add_connection")
    text = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    upload = form.get("ionapi")
    ionapi = await upload.read() if upload is not None and hasattr(upload, "read") else b""
    new = NewConnection(
        name=text.get("name", "").strip(),
        erp=text.get("erp", ""),
        marketplaces=form.getlist("marketplaces"),
        region=text.get("region", "na"),
        mode=text.get("mode", "summary"),
        start=text.get("start", ""),
        amazon_url=text.get("amazon_url", ""),
        client_secret_rotates_on=text.get("client_secret_rotates_on", ""),
        lwa={k: text.get(f"lwa_{k}", "") for k in ("client_id", "client_secret", "refresh_token")},
        ionapi=ionapi,
        m3={
            k: text.get(f"m3_{k}", "")
            for k in ("company", "division", "facility", "warehouse", "customer_template", "order_type")
        },
        acumatica_url=text.get("acumatica_url", ""),
        acumatica_tenant=text.get("acumatica_tenant", ""),
        acumatica_version=text.get("acumatica_version", ""),
        acumatica={k: text.get(f"acumatica_{k}", "") for k in ("branch", "base_currency", "warehouse")},
        acumatica_secrets={
            k: text.get(f"acumatica_{k}", "") for k in ("client_id", "client_secret", "username", "password")
        },
    )
    c = console(request)
    try:
        if not new.marketplaces:
            raise MlConnectorError("tick at least one Amazon marketplace")
        add(c.store, c.config_path, new, user=user.user)
    except (MlConnectorError, ValueError) as exc:
        kept = {
            k: v for k, v in text.items() if "secret" not in k and "password" not in k and "token" not in k
        }
        response = render(
            request,
            "connection_new.html",
            marketplaces=MARKETPLACES,
            form=kept,
            chosen=new.marketplaces,
            problem=str(exc),
            nav="connections",
        )
        response.status_code = 400
        return response
    results = actions.ping(c.store, new.name, user=user.user, config=c.config())
    words = "; ".join(
        f"{system}: {'answers, credentials accepted' if not p else ' / '.join(p)}" for system, p in results
    )
    ok = all(not p for _, p in results)
    text_out = f"connection {new.name} added; secrets stored encrypted. Ping: {words}"
    return back(request, "/connections", **({"msg": text_out} if ok else {"error": text_out}))


async def users_page(request: Request) -> Response:
    from ml_connector.console.web import user_of
    from ml_connector.ops.roles import ROLES

    require_role(user_of(request), "manage_users")
    return render(
        request, "users.html", users=users.list_users(console(request).store), roles=ROLES, nav="users"
    )


async def add_user(request: Request) -> Response:
    from ml_connector.ops.events import record_action

    user, form = await checked_form(request, "manage_users")
    name, role = str(form.get("name") or "").strip(), str(form.get("role") or "")
    try:
        users.add_user(console(request).store, name, role, str(form.get("password") or ""))
    except MlConnectorError as exc:
        return back(request, "/users", error=str(exc))
    record_action(
        console(request).store, user.user, "user_add", message=f"{user.user} added user {name} as {role}"
    )
    return back(request, "/users", msg=f"user {name} added ({role})")


async def remove_user(request: Request) -> Response:
    from ml_connector.ops.events import record_action

    user, _ = await checked_form(request, "manage_users")
    name = request.path_params["name"]
    if name == user.user:
        return back(request, "/users", error="you cannot remove yourself; another admin can")
    try:
        users.remove_user(console(request).store, name)
    except MlConnectorError as exc:
        return back(request, "/users", error=str(exc))
    record_action(
        console(request).store, user.user, "user_remove", message=f"{user.user} removed user {name}"
    )
    return back(request, "/users", msg=f"user {name} removed and signed out")


async def set_role(request: Request) -> Response:
    from ml_connector.ops.events import record_action

    user, form = await checked_form(request, "manage_users")
    name, role = request.path_params["name"], str(form.get("role") or "")
    try:
        old = users.set_role(console(request).store, name, role)
    except MlConnectorError as exc:
        return back(request, "/users", error=str(exc))
    if old == role:
        return back(request, "/users", msg=f"{name} is {role} already")
    record_action(
        console(request).store, user.user, "user_role", message=f"{user.user} made {name} {role} (was {old})"
    )
    return back(request, "/users", msg=f"{name} is now {role} (was {old}); open sessions take it at once")


async def rotate_credentials(request: Request) -> Response:
    """Admin: a new secret for one credential set, typed or uploaded once, then pinged."""
    from ml_connector.ops.credentials import TYPED_FIELDS, rotate

    user, form = await checked_form(request, "rotate_credentials")
    name, c = request.path_params["name"], console(request)
    system = str(form.get("system") or "")
    upload = form.get("ionapi")
    data = await upload.read() if upload is not None and hasattr(upload, "read") else b""
    typed = {k: str(form.get(f"{system}_{k}") or "") for k in TYPED_FIELDS.get(system, ())}
    where = _safe_next(form.get("next"), "/connections")
    try:
        result = rotate(
            c.store,
            name,
            system,
            typed=typed,
            upload=data,
            rotates_on=str(form.get("rotates_on") or ""),
            keep_if_refused=bool(form.get("keep_if_refused")),
            user=user.user,
            config=c.config(),
        )
    except MlConnectorError as exc:
        return back(request, where, error=f"{name}: {exc}")
    return back(
        request,
        where,
        **{"msg" if result.kept and not result.problems else "error": f"{name}: {result.line}"},
    )
