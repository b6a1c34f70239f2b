"""The console's pages (GET): each reads through the ops layer and renders one template."""

from __future__ import annotations

import csv
import io
from typing import Any, TypedDict

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ml_connector.console.web import console, render, user_of
from ml_connector.errors import ConfigurationError
from ml_connector.flows import registry
from ml_connector.ops import queries
from ml_connector.ops.events import recent_actions
from ml_connector.ops.pause import paused_connections

PAGE = 50
LISTS = {
    # path: (title, flow, kinds, what a row is)
    "orders": ("Orders", "orders", None, "order"),
    "stock-price": ("Stock & price updates", "stock_price", None, "update"),
    "shipments": ("Shipments", "shipments", None, "shipment"),
}


def _int(value: str | None, default: int = 0) -> int:
    try:
        return max(0, int(value or default))
    except ValueError:
        return default


def _filters(request: Request) -> dict[str, str]:
    q = request.query_params
    return {k: q.get(k, "").strip() for k in ("connection", "flow", "class", "q", "state", "amount", "day")}


class _Search(TypedDict):
    search: str | None
    amount: str | None
    day: str | None


def _searched(f: dict[str, str]) -> _Search:
    """The key, amount and day a list is searched by (empty fields are no search)."""
    return {"search": f["q"] or None, "amount": f["amount"] or None, "day": f["day"] or None}


def _connections(request: Request) -> list[str]:
    return [c.name for c in console(request).store.connections()]


def _not_found(exc: ConfigurationError) -> HTTPException:
    """A bad search is the asker's typo (400); an unknown connection or record is not found (404)."""
    return HTTPException(400 if isinstance(exc, queries.BadSearch) else 404, str(exc))


def overview(request: Request) -> Response:
    user_of(request)
    c = console(request)
    rows = queries.overview(c.store, c.config())
    return render(request, "overview.html", rows=rows, nav="overview")


def _problems(request: Request, f: dict[str, str], **page: int) -> queries.Problems:
    """The problems inbox under the page's filters (the screen and its CSV export read the same)."""
    try:
        return queries.problems(
            console(request).store,
            connection=f["connection"] or None,
            flow=f["flow"] or None,
            error_class=f["class"] or None,
            **_searched(f),
            **page,
        )
    except ConfigurationError as exc:
        raise _not_found(exc) from None


def problems(request: Request) -> Response:
    user_of(request)
    f = _filters(request)
    found = _problems(request, f, offset=_int(request.query_params.get("offset")), limit=PAGE)
    template = (
        "problems_table.html" if request.headers.get("hx-target") == "problem-list" else "problems.html"
    )
    return render(
        request,
        template,
        found=found,
        page=found.page,
        f=f,
        connections=_connections(request),
        flows=registry.titles(),
        nav="problems",
    )


def problems_csv(request: Request) -> Response:
    user_of(request)
    f = _filters(request)
    found = _problems(request, f, limit=100_000)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "id",
            "connection",
            "flow",
            "kind",
            "amazon_key",
            "state",
            "class",
            "erp_id",
            "attempts",
            "updated_utc",
            "error",
        ]
    )
    for r in found.rows:
        writer.writerow(
            [
                r.id,
                r.connection,
                r.flow,
                r.kind,
                r.key,
                r.state,
                r.error_class,
                r.erp_id or "",
                r.attempts,
                r.updated_at.isoformat(),
                r.error or r.waiting or "",
            ]
        )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="problems.csv"'},
    )


def settlements(request: Request) -> Response:
    user_of(request)
    f = _filters(request)
    offset = _int(request.query_params.get("offset"))
    try:
        page = queries.settlements(
            console(request).store,
            connection=f["connection"] or None,
            **_searched(f),
            offset=offset,
            limit=PAGE,
        )
    except ConfigurationError as exc:
        raise _not_found(exc) from None
    return render(
        request, "settlements.html", page=page, f=f, connections=_connections(request), nav="settlements"
    )


def settlement(request: Request) -> Response:
    user_of(request)
    c = console(request)
    try:
        detail = queries.settlement_detail(c.store, c.config(), int(request.path_params["id"]))
    except ConfigurationError as exc:
        raise _not_found(exc) from None
    return render(request, "settlement.html", d=detail, nav="settlements")


def settlement_raw(request: Request) -> Response:
    user_of(request)
    from ml_connector.flows.settlements import RAW_KIND

    store = console(request).store
    try:
        rec = store.record(int(request.path_params["id"]))
    except ConfigurationError as exc:
        raise _not_found(exc) from None
    data = (
        store.raw_document(store.connection_name(rec.connection_id), RAW_KIND, rec.key)
        if rec.kind == "settlement"
        else None
    )
    if data is None:
        raise HTTPException(404, "the raw report is not in the store")
    return Response(
        data,
        media_type="text/tab-separated-values",
        headers={"Content-Disposition": f'attachment; filename="settlement-{rec.key}.txt"'},
    )


def record_list(request: Request) -> Response:
    user_of(request)
    title, flow, kinds, noun = LISTS[request.url.path.strip("/")]
    f = _filters(request)
    offset = _int(request.query_params.get("offset"))
    try:
        page = queries.list_records(
            console(request).store,
            connection=f["connection"] or None,
            flow=flow,
            kinds=kinds,
            state=f["state"] or None,
            **_searched(f),
            offset=offset,
            limit=PAGE,
            newest_first=True,
            with_source=True,
        )
    except ConfigurationError as exc:
        raise _not_found(exc) from None
    verdicts = None
    if flow == "stock_price":  # Amazon's per-SKU verdicts, from the feed's report or the patch
        from ml_connector.ops.listings import verdicts as listing_verdicts

        verdicts = listing_verdicts(console(request).store, page.rows)
    return render(
        request,
        "records.html",
        page=page,
        verdicts=verdicts,
        f=f,
        title=title,
        noun=noun,
        path=request.url.path,
        connections=_connections(request),
        nav=request.url.path.strip("/"),
    )


def skus(request: Request) -> Response:
    user_of(request)
    c = console(request)
    names = _connections(request)
    chosen = request.query_params.get("connection") or (names[0] if names else "")
    q = request.query_params.get("q", "").strip()
    offset = _int(request.query_params.get("offset"))
    maps = queries.sku_map(c.store, c.config(), chosen, search=q, offset=offset) if chosen else None
    f = {"connection": chosen, "q": q}
    return render(request, "skus.html", m=maps, connections=names, chosen=chosen, f=f, nav="skus")


def record(request: Request) -> Response:
    user_of(request)
    c = console(request)
    try:
        detail = queries.record_detail(c.store, int(request.path_params["id"]), c.config())
    except ConfigurationError as exc:
        raise _not_found(exc) from None
    actions = recent_actions(c.store, limit=200)
    return render(
        request,
        "record.html",
        d=detail,
        actions=[a for a in actions if a.record_id == detail.record.id],
        nav="problems",
    )


def runs(request: Request) -> Response:
    user_of(request)
    f = _filters(request)
    offset = _int(request.query_params.get("offset"))
    try:
        page = queries.runs(
            console(request).store,
            connection=f["connection"] or None,
            flow=f["flow"] or None,
            offset=offset,
            limit=PAGE,
        )
    except ConfigurationError as exc:
        raise _not_found(exc) from None
    return render(
        request,
        "runs.html",
        page=page,
        f=f,
        connections=_connections(request),
        flows=registry.titles(),
        nav="runs",
    )


def connections(request: Request) -> Response:
    user_of(request)
    c = console(request)
    config = c.config()
    rows: list[dict[str, Any]] = []
    for conn in c.store.connections():
        configured = None
        if config is not None:
            configured = next((x for x in config.connections if x.name == conn.name), None)
        rows.append(
            {
                "name": conn.name,
                "erp": conn.erp,
                "stored": conn.settings or {},
                "configured": configured.model_dump(mode="json", exclude_none=True) if configured else None,
                "flows": list(configured.flows) if configured else [],
                "credentials": c.store.credential_systems(conn.name),
            }
        )
    paused = {name: p.paused_by for name, p in paused_connections(c.store).items()}
    pings = {r["name"]: recent_actions(c.store, connection=r["name"], action="ping", limit=1) for r in rows}
    return render(request, "connections.html", rows=rows, paused=paused, pings=pings, nav="connections")


def activity(request: Request) -> Response:
    user_of(request)
    return render(
        request, "activity.html", actions=recent_actions(console(request).store, limit=200), nav="activity"
    )
