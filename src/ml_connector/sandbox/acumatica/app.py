"""The Acumatica sandbox: the contract-based REST API of Default 23.200.001 and 24.200.001 as a
Starlette app, with its licence seats, OAuth token endpoint and cookie sign-in, value-wrapped
records, $filter/$select/$expand/$top/$skip, PUT upserts, 422/412/500 errors, a request-rate limit
answered with 429, and actions answered 202 + Location. ``app.state.sandbox`` is the world tests
and the demo read (``open_sessions`` above all)."""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ml_connector.clock import Clock
from ml_connector.sandbox.acumatica import gi, openapi
from ml_connector.sandbox.acumatica.contract import fields
from ml_connector.sandbox.acumatica.odata import FilterError, filter_fields, parse_filter
from ml_connector.sandbox.acumatica.state import (
    ACTIONS,
    BUSY,
    CLIENT_ID,
    CLIENT_SECRET,
    ENTITIES,
    FILE_VIEWS,
    INQUIRIES,
    PASSWORD,
    TENANT,
    USERNAME,
    AcumaticaSandbox,
    ApiSession,
    SandboxConfig,
)
from ml_connector.sandbox.acumatica.writes import Conflict, Rejected, upsert
from ml_connector.sandbox.faults import FaultInjectionMiddleware, FaultPlan

BUILD = "24.212.0031"
SESSION_COOKIE = "ASP.NET_SessionId"


# -- wrapping ------------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # Acumatica answers numbers (1222.8), never strings
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def wrap_record(
    record: dict[str, Any],
    *,
    version: str,
    entity: str,
    details: set[str],
    select: set[str] | None,
    errors: dict[str, str] | None = None,
    row: int = 1,
    links: str | None = None,
    files_put: str | None = None,
    detail_files: dict[str, str] | None = None,
    files: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A stored record as the contract of ``version`` shows it: every field of the entity, each
    wrapped (``{}`` when unset, as the real service answers), details only when expanded,
    ``error`` where validation failed, and ``_links`` (``self`` and the ``files:put`` template)."""
    errors = errors or {}
    detail_files = detail_files or {}
    contract = fields(version, entity)
    out: dict[str, Any] = {"id": record.get("id"), "rowNumber": row, "note": {"value": ""}}
    for name, kind in contract.items():
        if select is not None and name not in select:
            continue
        value = record.get(name)
        if kind.endswith("[]"):
            if name not in details:
                continue
            out[name] = []
            for index, item in enumerate(value or []):
                prefix = f"{name}[{index}]."
                row_errors = {k[len(prefix) :]: v for k, v in errors.items() if k.startswith(prefix)}
                template = detail_files.get(name)
                wrapped = wrap_record(
                    item,
                    version=version,
                    entity=kind[:-2],
                    details=set(),
                    select=None,
                    errors=row_errors,
                    row=index + 1,
                    files_put=template.replace("{id}", str(item.get("id"))) if template else None,
                )
                out[name].append(wrapped)
        elif not kind.endswith("Value"):
            if isinstance(value, dict):
                out[name] = wrap_record(value, version=version, entity=kind, details=set(), select=None)
        else:
            out[name] = {"value": _json_value(value)} if value is not None else {}
            if name in errors:
                out[name]["error"] = errors[name]
    for name, message in errors.items():
        if "." not in name and "[" not in name and name in contract and name not in out:
            out[name] = {"error": message}
    out["custom"] = {}
    if files is not None:
        out["files"] = files
    link_map = {}
    if links:
        link_map["self"] = links
    if files_put:
        link_map["files:put"] = files_put
    if link_map:
        out["_links"] = link_map
    return out


def http_error(status: int, message: str, exception_type: str = "PX.Data.PXException") -> JSONResponse:
    return JSONResponse(
        {
            "message": "An error has occurred.",
            "exceptionMessage": message,
            "exceptionType": exception_type,
            "stackTrace": "",
        },
        status_code=status,
    )


def no_entity() -> JSONResponse:
    return http_error(
        500,
        "No entity satisfies the condition.",
        "PX.Api.ContractBased.NoEntitySatisfiesTheConditionException",
    )


def not_logged_in() -> JSONResponse:
    return JSONResponse({"message": "You are not logged in."}, status_code=401)


def login_limit(sandbox: AcumaticaSandbox) -> Response:
    text = "API Login Limit"
    if sandbox.config.login_limit_status == 500:
        return Response(
            f"<html><body><h2>Server Error</h2><p>{text}</p></body></html>", 500, media_type="text/html"
        )
    return PlainTextResponse(text, status_code=sandbox.config.login_limit_status)


# -- the app -------------------------------------------------------------------------------------


class AcumaticaApp:
    def __init__(self, sandbox: AcumaticaSandbox, base_path: str, faults: FaultPlan | None = None) -> None:
        self.sandbox = sandbox
        self.base = base_path.rstrip("/")
        self.faults = faults or FaultPlan()

    # instance level

    async def endpoints(self, request: Request) -> Response:
        self.sandbox.requests["GET /entity"] += 1
        endpoints = [
            {"name": "Default", "version": v, "href": f"{self.base}/entity/Default/{v}/"}
            for v in self.sandbox.config.versions
        ]
        return JSONResponse(
            {"version": {"acumaticaBuildVersion": BUILD, "databaseVersion": BUILD}, "endpoints": endpoints}
        )

    async def login(self, request: Request) -> Response:
        self.sandbox.requests["POST /entity/auth/login"] += 1
        if request.headers.get("content-type", "").startswith("application/json"):
            body = await request.json()
        else:
            body = await _form(request)
        if body.get("name") != USERNAME or body.get("password") != PASSWORD:
            return http_error(500, "Error: Invalid credentials. Please try again.")
        if (body.get("tenant") or body.get("company")) not in (TENANT, None):
            return http_error(
                500, "A proper company ID cannot be determined.", "PX.Data.PXUndefinedCompanyException"
            )
        session = self.sandbox.open_session("cookie", USERNAME)
        if session is None:
            return login_limit(self.sandbox)
        response = Response(status_code=204)
        response.set_cookie(SESSION_COOKIE, session.session_id, httponly=True, path="/")
        response.set_cookie(".ASPXAUTH", secrets.token_hex(16), httponly=True, path="/")
        response.set_cookie("CompanyID", TENANT, path="/")
        return response

    async def logout(self, request: Request) -> Response:
        """Sign-out always answers 204 and bypasses the request queue."""
        self.sandbox.requests["POST /entity/auth/logout"] += 1
        authorization = request.headers.get("authorization", "")
        access = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
        session_id = self.sandbox.session_id_of(access, request.cookies.get(SESSION_COOKIE))
        if session_id is not None:
            self.sandbox.close_session(session_id)
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def token(self, request: Request) -> Response:
        self.sandbox.requests["POST /identity/connect/token"] += 1
        form = await _form(request)
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return JSONResponse({"error": "invalid_client"}, status_code=400)
        grant = form.get("grant_type")
        if grant == "password":
            if form.get("username") != USERNAME or form.get("password") != PASSWORD:
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "invalid_username_or_password"}, 400
                )
            session = self.sandbox.open_session("oauth", USERNAME)
            if session is None:
                return login_limit(self.sandbox)
            return JSONResponse(self.sandbox.issue_tokens(session.session_id))
        if grant == "refresh_token":
            with self.sandbox.lock:
                chain = self.sandbox.refresh.pop(form.get("refresh_token", ""), None)
                now = self.sandbox.clock.monotonic()
                if chain is None or now > chain.started + self.sandbox.config.refresh_chain_seconds:
                    return JSONResponse({"error": "invalid_grant"}, status_code=400)
                session = self.sandbox.sessions.get(chain.session_id)
                if session is None or session.closed:
                    return JSONResponse({"error": "invalid_grant"}, status_code=400)
                return JSONResponse(self.sandbox.issue_tokens(chain.session_id, started=chain.started))
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

    def _session(self, request: Request) -> ApiSession | None:
        forced = bool(request.scope.get("state", {}).get("force_token_expired"))
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            return self.sandbox.session_for_token(authorization[7:].strip(), forced)
        return self.sandbox.session_for_cookie(request.cookies.get(SESSION_COOKIE), forced)

    # endpoint level

    async def entity(self, request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        version = request.path_params["version"]
        parts = [p for p in request.path_params["rest"].split("/") if p]
        self.sandbox.requests[f"{request.method} {parts[0] if parts else ''}"] += 1
        if endpoint != "Default" or version not in self.sandbox.config.versions:
            return JSONResponse(
                {"message": f"No HTTP resource was found that matches the request URI '{request.url}'."},
                status_code=404,
            )
        if not self.sandbox.bucket.try_take():
            self.sandbox.throttled += 1
            bucket = self.sandbox.bucket
            wait = max(0.0, (1 - bucket.available) / bucket.rate)
            return JSONResponse(
                {"message": "API request rate limit exceeded. Please try again later."},
                status_code=429,
                headers={"Retry-After": f"{wait:.3f}"},
            )
        if request.method == "GET" and parts == ["swagger.json"]:
            return openapi.response(request, version, self._endpoint_url(request, version))
        if self._session(request) is None:
            return not_logged_in()
        if parts and parts[0] == "files":
            return await self._file(request, version, parts[1:])
        if not parts or (parts[0] not in ENTITIES and parts[0] not in INQUIRIES):
            return JSONResponse(
                {"message": "No HTTP resource was found that matches the request URI."}, status_code=404
            )
        entity = parts[0]
        try:
            if request.method == "GET" and len(parts) == 4 and parts[2] == "status":
                return self._status(parts[3])
            if request.method == "GET" and parts[1:] == ["$adHocSchema"]:
                return self._ad_hoc_schema(entity, version)
            if request.method == "PUT" and len(parts) >= 3 and parts[-2] == "files":
                return await self._attach(request, entity, version, parts[1:-2], parts[-1])
            if request.method == "GET" and len(parts) == 1:
                return self._list(request, entity, version)
            if request.method == "GET":
                return self._get(request, entity, version, parts[1:])
            if request.method == "PUT" and len(parts) == 1:
                return await self._put(request, entity, version)
            if request.method == "POST" and len(parts) == 2:
                return await self._action(request, entity, version, parts[1])
        except FilterError as exc:
            return http_error(500, str(exc))
        return JSONResponse(
            {"message": "The requested resource does not support this method."}, status_code=405
        )

    def _href(self, version: str, entity: str, record_id: str) -> str:
        return f"{self.base}/entity/Default/{version}/{entity}/{record_id}"

    def _render(
        self,
        entity: str,
        version: str,
        record: dict,
        request: Request,
        row: int = 1,
        extra: set[str] | None = None,
    ) -> dict:
        expand = {e.split("/")[0] for e in (request.query_params.get("$expand") or "").split(",") if e}
        select_text = request.query_params.get("$select")
        select = None
        if select_text:
            select = (
                {s.split("/")[0] for s in select_text.split(",")}
                | set(ENTITIES[entity].keys)
                | (extra or set())
            )
        files_put, detail_files = self._file_templates(version, entity, record["id"])
        return wrap_record(
            record,
            version=version,
            entity=entity,
            details=expand,
            select=select,
            row=row,
            links=self._href(version, entity, record["id"]),
            files_put=files_put,
            detail_files=detail_files,
            files=self._files(version, record["id"]) if "files" in expand else None,
        )

    def _file_templates(self, version: str, entity: str, record_id: str) -> tuple[str | None, dict[str, str]]:
        """The ``files:put`` URL template of a record and (``{id}`` left open) of its detail rows."""
        views = FILE_VIEWS.get(entity)
        if views is None:
            return None, {}
        graph, view, detail_view = views
        root = f"{self.base}/entity/Default/{version}/files/{graph}"
        details = {}
        if detail_view and ENTITIES[entity].details:
            details[ENTITIES[entity].details[0]] = f"{root}/{detail_view}/{{id}}/{{filename}}"
        return f"{root}/{view}/{record_id}/{{filename}}", details

    def _files(self, version: str, record_id: str) -> list[dict[str, Any]]:
        return [
            {
                "id": f["id"],
                "filename": f["filename"],
                "href": f"{self.base}/entity/Default/{version}/files/{f['id']}",
                "comment": f.get("comment"),
            }
            for f in self.sandbox.files.get(record_id, [])
        ]

    def _list(self, request: Request, entity: str, version: str) -> Response:
        filter_text = request.query_params.get("$filter")
        records = list(self.sandbox.records[entity].values())
        extra: set[str] = set()
        if filter_text:
            predicate = parse_filter(filter_text)
            records = [r for r in records if predicate(r)]
            extra = filter_fields(filter_text)
        skip = int(request.query_params.get("$skip") or 0)
        top = request.query_params.get("$top")
        records = records[skip : skip + int(top)] if top is not None else records[skip:]
        return JSONResponse(
            [self._render(entity, version, r, request, i + 1, extra) for i, r in enumerate(records)]
        )

    def _get(self, request: Request, entity: str, version: str, keys: list[str]) -> Response:
        record = self.sandbox.records[entity].get(keys[0]) if len(keys) == 1 else None
        if record is None:
            joined = keys[0].split("|") if len(keys) == 1 and "|" in keys[0] else keys
            record = self.sandbox.find_by_keys(entity, tuple(joined))
        if record is None:
            return no_entity()
        return JSONResponse(self._render(entity, version, record, request))

    async def _put(self, request: Request, entity: str, version: str) -> Response:
        body = _unwrap(json.loads(await request.body() or b"{}", parse_float=Decimal)) or {}
        if entity in INQUIRIES:
            return self._inquiry(request, entity, version, body)
        try:
            record = upsert(
                self.sandbox,
                entity,
                version,
                body,
                if_none_match=request.headers.get("if-none-match") == "*",
                if_match=request.headers.get("if-match") == "*",
            )
        except Conflict as exc:
            return http_error(412, str(exc))
        except Rejected as exc:
            echo = wrap_record(
                exc.echo,
                version=version,
                entity=entity,
                details=set(ENTITIES[entity].details),
                select=None,
                errors=exc.errors,
            )
            echo["error"] = exc.message
            return JSONResponse(echo, status_code=422)
        if self.sandbox.lose_reply():
            return PlainTextResponse("Gateway Timeout", status_code=504)
        return JSONResponse(self._render(entity, version, record, request))

    def _inquiry(self, request: Request, entity: str, version: str, body: dict) -> Response:
        wanted = body.get("InventoryID")
        rows = []
        for item in self.sandbox.records["StockItem"].values():
            if wanted and item["InventoryID"] != wanted:
                continue
            rows.append(
                {
                    "id": secrets.token_hex(8),
                    "InventoryID": item["InventoryID"],
                    "QtyAvailable": self.sandbox.qty_available(item["InventoryID"]),
                    "LastModifiedDateTime": self.sandbox.now_text(),
                }
            )
        record = {"id": secrets.token_hex(8), "InventoryID": wanted, "Results": rows}
        expand = {e for e in (request.query_params.get("$expand") or "").split(",") if e}
        return JSONResponse(wrap_record(record, version=version, entity=entity, details=expand, select=None))

    async def _action(self, request: Request, entity: str, version: str, action: str) -> Response:
        new_status = ACTIONS.get((entity, action))
        if new_status is None:
            return JSONResponse({"message": f"No action {action} on {entity}."}, status_code=404)
        payload = json.loads(await request.body() or b"{}", parse_float=Decimal)
        target = _unwrap(payload.get("entity") or {}) or {}
        record = self.sandbox.records[entity].get(str(target.get("id"))) if target.get("id") else None
        keys = ENTITIES[entity].keys
        if record is None and all(target.get(k) for k in keys):
            record = self.sandbox.find_by_keys(entity, tuple(str(target[k]) for k in keys))
        if record is None:
            return no_entity()
        if record.get("Status") in ("On Hold",):
            return http_error(500, "The document is on hold and cannot be released.")
        failure = None
        if self.faults.draw_action_failure():
            failure = f"{action} failed on the server: the sandbox fault plan's asynchronous action failure."
        job_id = self.sandbox.start_job(entity, record["id"], new_status, failure)
        if job_id is None:
            return http_error(500, BUSY)
        if self.sandbox.lose_reply():
            return PlainTextResponse("Gateway Timeout", status_code=504)
        location = f"{self.base}/entity/Default/{version}/{entity}/{action}/status/{job_id}"
        return Response(status_code=202, headers={"Location": location})

    def _status(self, job_id: str) -> Response:
        """202 while the action runs, 204 once done, the failure as a 500 HttpError."""
        job = self.sandbox.poll_job(job_id)
        if job is None:
            return JSONResponse({"message": "No such operation."}, status_code=404)
        if not job.finished:
            return Response(status_code=202)
        if job.failure:
            return http_error(500, job.failure)
        return Response(status_code=204)

    def _ad_hoc_schema(self, entity: str, version: str) -> Response:
        """The fields outside the contract (``custom``): the sandbox tenant has no customisations,
        so the entity comes back with every contract field unset and ``custom`` empty."""
        return JSONResponse(
            wrap_record({"id": None}, version=version, entity=entity, details=set(), select=None)
        )

    async def _attach(
        self, request: Request, entity: str, version: str, keys: list[str], filename: str
    ) -> Response:
        """PUT /{Entity}/{keys}/files/{filename}: the raw bytes attached to the record (204)."""
        record = self.sandbox.records[entity].get(keys[0]) if len(keys) == 1 else None
        if record is None:
            record = self.sandbox.find_by_keys(entity, tuple(keys))
        if record is None:
            return no_entity()
        self._store_file(record["id"], filename, await request.body(), request)
        return Response(status_code=204)

    async def _file(self, request: Request, version: str, rest: list[str]) -> Response:
        """``files:put`` targets (…/files/{Graph}/{View}/{id}/{filename}) and file downloads
        (…/files/{fileId})."""
        if request.method == "GET" and len(rest) == 1:
            for attached in self.sandbox.files.values():
                for entry in attached:
                    if entry["id"] == rest[0]:
                        return Response(entry["content"], media_type="application/octet-stream")
            return http_error(500, "The file was not found.")
        if request.method == "PUT" and len(rest) == 4:
            record_id, filename = rest[2], rest[3]
            known = any(record_id in records for records in self.sandbox.records.values()) or any(
                record_id == row.get("id")
                for records in self.sandbox.records.values()
                for record in records.values()
                for name in ("Details", "CrossReferences")
                for row in record.get(name) or []
            )
            if not known:
                return no_entity()
            self._store_file(record_id, filename, await request.body(), request)
            return Response(status_code=204)
        return JSONResponse(
            {"message": "The requested resource does not support this method."}, status_code=405
        )

    def _store_file(self, record_id: str, filename: str, content: bytes, request: Request) -> None:
        with self.sandbox.lock:
            attached = self.sandbox.files.setdefault(record_id, [])
            attached[:] = [f for f in attached if f["filename"] != filename]  # same name: replaced
            attached.append(
                {
                    "id": str(uuid.uuid4()),
                    "filename": filename,
                    "content": content,
                    "comment": request.headers.get("PX-CbFileComment"),
                }
            )

    def _endpoint_url(self, request: Request, version: str) -> str:
        return f"{str(request.base_url).rstrip('/')}{self.base}/entity/Default/{version}"


async def _form(request: Request) -> dict[str, str]:
    """application/x-www-form-urlencoded without python-multipart (which Starlette's form() needs)."""
    return dict(parse_qsl((await request.body()).decode()))


def _unwrap(value: Any) -> Any:
    """Wrapped JSON -> plain values; accepts numbers as JSON numbers or numeric strings."""
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    if isinstance(value, dict):
        if set(value) <= {"value", "error"}:
            return value.get("value")
        return {k: (v if k in ("id", "delete") else _unwrap(v)) for k, v in value.items()}
    return value


def create_app(
    *,
    clock: Clock,
    seed: int = 7,
    faults: FaultPlan | None = None,
    config: SandboxConfig | None = None,
    base_path: str = "",
) -> Starlette:
    """The sandbox at ``base_path`` (a virtual directory such as "/erp", or the site root)."""
    sandbox = AcumaticaSandbox(clock=clock, seed=seed, config=config or SandboxConfig())
    plan = faults or FaultPlan()
    handler = AcumaticaApp(sandbox, base_path, plan)
    base = handler.base
    gi_metadata, gi_feed = gi.routes_for(sandbox)
    routes = [
        Route(f"{base}/entity", handler.endpoints, methods=["GET"]),
        Route(f"{base}/entity/auth/login", handler.login, methods=["POST"]),
        Route(f"{base}/entity/auth/logout", handler.logout, methods=["POST"]),
        Route(f"{base}/identity/connect/token", handler.token, methods=["POST"]),
        Route(f"{base}/t/{{tenant}}/api/odata/gi/$metadata", gi_metadata, methods=["GET"]),
        Route(f"{base}/t/{{tenant}}/api/odata/gi/{{name}}", gi_feed, methods=["GET"]),
        Route(
            f"{base}/entity/{{endpoint}}/{{version}}/{{rest:path}}",
            handler.entity,
            methods=["GET", "PUT", "POST", "DELETE"],
        ),
    ]
    throttle = json.dumps({"message": "API request rate limit exceeded. Please try again later."}).encode()
    app = Starlette(
        routes=routes,
        middleware=[Middleware(FaultInjectionMiddleware, plan=plan, clock=clock, throttle_body=throttle)],
    )
    app.state.sandbox = sandbox
    return app
