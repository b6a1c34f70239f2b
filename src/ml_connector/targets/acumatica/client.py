"""The REST client for one Acumatica endpoint version, a thin user of the one HTTP client
(``transport.client.ApiClient``: the session as its ``httpx.Auth``, renewed once on 401; its
policy's retries, and no resend of a write that may have run): list paging with $top/$skip,
upserts, actions polled to completion, and a call count.

Paths are relative to ``{site}/entity/{Endpoint}/{Version}``. A 404 on that base means the version
is gone from the instance; the client then reads ``GET /entity`` and names the versions offered.
"""

from __future__ import annotations

import builtins
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import httpx

from ml_connector.clock import SYSTEM_CLOCK, Clock
from ml_connector.errors import ConfigurationError, PermanentError, TransientError
from ml_connector.targets.acumatica.auth import TIMEOUT, Session, login_limit, open_session
from ml_connector.targets.acumatica.endpoint import fetch_instance_info, require_version
from ml_connector.targets.acumatica.errors import (
    body_json,
    http_error,
    is_no_entity,
    raise_for_status,
)
from ml_connector.targets.acumatica.settings import AcumaticaCredentials, AcumaticaSettings, version_tuple
from ml_connector.targets.acumatica.values import dumps, loads, odata_datetime, unwrap, wrap
from ml_connector.transport.auth import AcumaticaSessionAuth
from ml_connector.transport.client import ApiClient, Failure
from ml_connector.transport.retry import RetryPolicy


class AcumaticaClient:
    """One signed-in conversation with one endpoint version. Use as a context manager (or call
    ``close()``): the session is signed out whatever happened, so no licence seat is left taken."""

    def __init__(
        self,
        settings: AcumaticaSettings,
        credentials: AcumaticaCredentials,
        *,
        clock: Clock = SYSTEM_CLOCK,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.http = http  # None: the host's client from transport.pool
        self.retry = retry or RetryPolicy(clock=clock)
        self.session: Session = open_session(self.http, settings, credentials, clock=clock, retry=self.retry)
        self.api = ApiClient(
            "Acumatica",
            retry=self.retry,
            auth=AcumaticaSessionAuth(self.session),
            timeout=TIMEOUT,
            http=http,
            classifier=classify_answer,
        )
        self.calls: Counter[str] = self.api.sent  # "GET SalesInvoice" -> count, every attempt included

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        self.session.sign_out()  # the connections stay in the process's pool

    def __enter__(self) -> AcumaticaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def call_count(self) -> int:
        """Every HTTP call made, the sign-in and sign-out ones included."""
        return sum(self.calls.values()) + self.session.calls

    # -- raw requests ----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        absolute: bool = False,
        idempotent: bool = True,
    ) -> httpx.Response:
        """Send through the one HTTP client; returns the final response (raising only when
        retries ran out or the endpoint version is missing).

        A non-idempotent write (an insert whose number the ERP assigns, an action) is resent only
        after answers that prove it was not processed (429, 401, the login limit). After a dropped
        connection or a 5xx it may have been written, so TransientError goes up instead and the
        posting protocol asks ``find`` before posting again."""
        url = path if absolute else f"{self.settings.endpoint_base}/{path.lstrip('/')}"
        entity = "action status" if absolute else path.split("?")[0].strip("/").split("/")[0]
        content = dumps(body) if body is not None else None
        all_headers = {"Accept": "application/json", **(headers or {})}
        if content is not None:
            all_headers["Content-Type"] = "application/json"
        response = self.api.send(
            method,
            url,
            label=f"{method} {entity}",
            write=not idempotent,
            params=params,
            content=content,
            headers=all_headers,
            describe=f"Acumatica {method} {entity}",
        )
        if response.status_code == 404 and not absolute:
            self._explain_404(response)
        return response

    def _explain_404(self, response: httpx.Response) -> None:
        """Unknown action or record answers 404 too; only a missing version is a configuration
        error, so look the version up before deciding."""
        info = fetch_instance_info(self.http, self.settings.url)
        require_version(info, self.settings.endpoint_name, self.settings.endpoint_version)

    # -- entity operations -----------------------------------------------------------------------

    def get_by_keys(
        self, entity: str, *keys: str, select: str | None = None, expand: str | None = None
    ) -> dict | None:
        """One record by its key fields; None when Acumatica says no entity satisfies the condition."""
        params = _params(select=select, expand=expand)
        path = f"{entity}/" + "/".join(httpx.URL(f"/{key}").raw_path.decode().lstrip("/") for key in keys)
        response = self.request("GET", path, params=params)
        if response.status_code == 500 and is_no_entity(response):
            return None
        raise_for_status(response, f"GET {entity}")
        return unwrap(loads(response.content))

    def list(
        self,
        entity: str,
        *,
        filter: str | None = None,
        select: str | None = None,
        expand: str | None = None,
        top: int | None = None,
        skip: int = 0,
    ) -> list[dict]:
        """One page of records (a plain array: no count, no next link)."""
        params = _params(filter=filter, select=select, expand=expand, top=top, skip=skip or None)
        response = self.request("GET", entity, params=params)
        raise_for_status(response, f"GET {entity}")
        data = loads(response.content)
        if not isinstance(data, list):
            raise PermanentError(f"GET {entity} answered {type(data).__name__}, not a list")
        return [unwrap(row) for row in data]

    def iterate(
        self, entity: str, *, filter: str | None = None, select: str | None = None, expand: str | None = None
    ) -> Iterator[dict]:
        """Every record matching ``filter``, read with $top/$skip pages; a short page ends it."""
        size = self.settings.page_size
        skip = 0
        while True:
            page = self.list(entity, filter=filter, select=select, expand=expand, top=size, skip=skip)
            yield from page
            if len(page) < size:
                return
            skip += size

    def modified_since(
        self,
        entity: str,
        since: datetime,
        *,
        select: str | None = None,
        expand: str | None = None,
        also: str | None = None,
    ) -> Iterator[dict]:
        """Incremental read: records changed after ``since`` on the last-modified field this
        endpoint version has, paged. ``also`` is ANDed to the condition (e.g. a status)."""
        field = modified_field(self.settings.endpoint_version, entity)
        condition = f"{field} gt {odata_datetime(since)}"
        if also:
            condition = f"{also} and {condition}"
        return self.iterate(entity, filter=condition, select=select, expand=expand)

    def put(
        self,
        entity: str,
        fields: Mapping[str, Any],
        *,
        insert_only: bool = False,
        expand: str | None = None,
        select: str | None = None,
    ) -> dict:
        """Insert or update (``insert_only`` sends If-None-Match: *, so an existing record is 412,
        never overwritten). 422 field errors raise PermanentError naming the first field."""
        headers = {"If-None-Match": "*"} if insert_only else None
        response = self.request(
            "PUT",
            entity,
            params=_params(expand=expand, select=select),
            body=wrap(fields),
            headers=headers,
            idempotent=not insert_only,
        )
        if response.status_code == 412:
            raise PermanentError(
                f"PUT {entity}: the record already exists (If-None-Match: *)",
                target_message="412 Precondition Failed",
            )
        raise_for_status(response, f"PUT {entity}")
        return unwrap(loads(response.content))

    def inquire(
        self, entity: str, parameters: Mapping[str, Any], *, results: str = "Results"
    ) -> builtins.list[dict]:
        """Inquiry entities are read with PUT: parameters in, ``Results`` rows out.
        (``builtins.list``: the method ``list`` above shadows the type in the class body.)"""
        response = self.request("PUT", entity, params={"$expand": results}, body=wrap(parameters))
        raise_for_status(response, f"PUT {entity}")
        return list(unwrap(loads(response.content)).get(results) or [])

    def invoke(
        self, entity: str, action: str, record: Mapping[str, Any], parameters: Mapping[str, Any] | None = None
    ) -> None:
        """Run an action and wait for it: 202 + Location is polled until 204."""
        body = {"entity": wrap(record), "parameters": wrap(parameters or {})}
        response = self.request("POST", f"{entity}/{action}", body=body, idempotent=False)
        raise_for_status(response, f"{entity}/{action}")
        if response.status_code == 204:
            return
        location = response.headers.get("location")
        if response.status_code != 202 or not location:
            raise PermanentError(f"{entity}/{action} answered {response.status_code} without a status URL")
        status_url = str(httpx.URL(self.settings.url).join(location))  # site-relative, keeps the virtual dir
        waited = 0.0
        while True:
            self.clock.sleep(self.settings.release_poll_seconds)
            waited += self.settings.release_poll_seconds
            poll = self.request("GET", status_url, absolute=True)
            if poll.status_code == 204:
                return
            if poll.status_code != 202:
                raise_for_status(poll, f"{entity}/{action} status")
                raise PermanentError(f"{entity}/{action} status answered {poll.status_code}")
            if waited >= self.settings.release_timeout_seconds:
                raise TransientError(
                    f"{entity}/{action} still running after {waited:.0f}s; will check again next run"
                )

    # -- checks ----------------------------------------------------------------------------------

    def check_version(self) -> None:
        info = fetch_instance_info(self.http, self.settings.url)
        require_version(info, self.settings.endpoint_name, self.settings.endpoint_version)

    def error_body(self, response: httpx.Response) -> Any:
        return body_json(response)


def classify_answer(response: httpx.Response) -> Failure | None:
    """What Acumatica's status codes hide: the login limit under any status was refused before it
    ran; a 500 carrying an HttpError body is the ERP's refusal (a missing record, missing setup),
    not a failure to retry. A 401 that outlived the session's renewal is retried too (as a refusal:
    nothing ran): Acumatica ends sessions under a client's feet (idle timeout, the licence's session
    limit, an administrator), and each attempt signs in again."""
    if login_limit(response) is not None or response.status_code == 401:
        return Failure.REFUSED
    if response.status_code == 500 and http_error(response) is not None:
        return Failure.SERVER_REFUSAL
    return None


def modified_field(version: str, entity: str) -> str:
    """The last-modified field of ``entity`` in this Default version (ACUMATICA-REST.md 1.4, 6):
    StockItem has LastModified before 24.200.001; SalesInvoice has none before 23.200.001."""
    numbers = version_tuple(version)
    if entity == "StockItem":
        return "LastModifiedDateTime" if numbers >= (24, 200, 1) else "LastModified"
    if entity == "SalesInvoice" and numbers < (23, 200, 1):
        raise ConfigurationError(
            f"SalesInvoice has no last-modified field in Default/{version}; use 23.200.001 or later"
        )
    if entity == "SalesOrder":
        return "LastModified"  # SalesOrder has no LastModifiedDateTime in 23/24.200.001
    return "LastModifiedDateTime"


def _params(**values: Any) -> dict[str, Any]:
    return {f"${name}": value for name, value in values.items() if value is not None}


__all__ = ["AcumaticaClient", "ConfigurationError"]
