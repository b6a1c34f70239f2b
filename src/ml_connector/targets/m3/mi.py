"""M3 MI REST client behind the ION API gateway.

One ``call`` = one MI transaction (``GET .../m3api-rest/v2/execute/{PROGRAM}/{TRANSACTION}``, or the
v1 path where a tenant still needs it); ``bulk`` = many transactions of one program in one
``POST .../v2/execute``. Errors are read from the body whatever the HTTP status. Requests leave
through the one HTTP client (``transport.client.ApiClient``): its ``IonTokenAuth`` renews the
token once on 401, its policy backs off on 429/5xx/transport errors and never resends a write
that may have run. Here: a per-tenant semaphore bounds concurrent calls (the gateway throttles per
tenant, not per client) and an optional bucket paces them.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import httpx

from ml_connector.clock import SYSTEM_CLOCK, Clock
from ml_connector.errors import AuthenticationError, ConfigurationError, PermanentError
from ml_connector.targets.m3.ionapi import IonApiFile
from ml_connector.targets.m3.responses import MiResult, Record, parse_body
from ml_connector.targets.m3.token import IonTokenClient
from ml_connector.transport.auth import IonTokenAuth
from ml_connector.transport.client import ApiClient
from ml_connector.transport.ratelimit import TokenBucket
from ml_connector.transport.retry import RetryPolicy

log = logging.getLogger(__name__)

Request = tuple[str, str, dict[str, str], dict | None]  # method, url, query, JSON body

BULK_CHUNK = 100
WRITE_PREFIXES = ("Add", "Chg", "Upd", "Del", "Dlt", "Confirm", "Copy", "Cpy", "Rel", "Crt")


def is_write(transaction: str) -> bool:
    """MI writes are named, not methoded: Add/Chg/Dlt... are all GETs."""
    return transaction.startswith(WRITE_PREFIXES)


_tenant_gates: dict[str, threading.BoundedSemaphore] = {}
_gates_lock = threading.Lock()


def tenant_gate(tenant_url: str, limit: int) -> threading.BoundedSemaphore:
    """The one semaphore all clients of a tenant share in this process."""
    with _gates_lock:
        gate = _tenant_gates.get(tenant_url)
        if gate is None:
            gate = _tenant_gates[tenant_url] = threading.BoundedSemaphore(limit)
        return gate


class MiClient:
    def __init__(
        self,
        ionapi: IonApiFile,
        tokens: IonTokenClient,
        http: httpx.Client | None,
        *,
        company: str | int | None = None,
        division: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        retry: RetryPolicy | None = None,
        max_concurrent: int = 4,
        rate_per_second: float | None = None,
        api_version: Literal["v1", "v2"] = "v2",
    ) -> None:
        self._ionapi = ionapi
        self._tokens = tokens
        self.company = str(company) if company not in (None, "") else None
        self.division = division
        self._retry = retry or RetryPolicy(clock=clock)
        self._gate = tenant_gate(ionapi.gateway_url, max_concurrent)
        self._bucket = (
            TokenBucket(rate_per_second, max(1.0, rate_per_second), clock=clock) if rate_per_second else None
        )
        self.api_version = api_version
        self.api = ApiClient(
            "ION",
            retry=self._retry,
            auth=IonTokenAuth(tokens.token, tokens.renew),
            timeout=httpx.Timeout(60.0, connect=10.0),
            http=http,
        )
        self.transactions: Counter[str] = Counter()  # "PROGRAM.Transaction" -> MI transactions sent
        self.requests = 0  # HTTP requests (first attempts)
        self._count_lock = threading.Lock()

    @property
    def retries(self) -> int:
        """Extra attempts after 429/5xx/transport errors."""
        return sum(self.api.retried.values())

    # -- public API -------------------------------------------------------------------------------

    def call(
        self,
        program: str,
        transaction: str,
        fields: Mapping[str, object] | None = None,
        *,
        maxrecs: int | None = None,
        returncols: Sequence[str] | None = None,
    ) -> list[Record]:
        """Run one transaction; return its records or raise MiError / MiConfigurationError."""
        inputs = _as_strings(fields)
        self._count(program, [transaction])
        if self.api_version == "v1":
            request = self._v1_request(program, transaction, inputs, maxrecs, returncols)
        else:
            request = self._v2_request(program, transaction, inputs, maxrecs, returncols)
        response = self._send(request, f"{program}.{transaction}", write=is_write(transaction))
        results = parse_body(self._json(response, program, transaction), program, transaction)
        return results[0].raise_for_error()

    def bulk(
        self, program: str, calls: Iterable[tuple[str, Mapping[str, object]]], *, maxrecs: int = 0
    ) -> list[MiResult]:
        """Run transactions of one program in order, ``BULK_CHUNK`` per request; each result carries its
        own records or error (errors are not raised here: the caller decides per transaction)."""
        pending = [(name, _as_strings(fields)) for name, fields in calls]
        if self.api_version == "v1":  # v1 has no bulk endpoint: one request each
            results: list[MiResult] = []
            for name, fields in pending:
                self._count(program, [name])
                response = self._send(
                    self._v1_request(program, name, fields, maxrecs, None),
                    f"{program}.{name}",
                    write=is_write(name),
                )
                results.extend(parse_body(self._json(response, program, name), program, name)[:1])
            return results
        results = []
        for start in range(0, len(pending), BULK_CHUNK):
            chunk = pending[start : start + BULK_CHUNK]
            self._count(program, [name for name, _ in chunk])
            body = {
                "program": program,
                **({"cono": int(self.company)} if self.company and self.company.isdigit() else {}),
                **({"divi": self.division} if self.division else {}),
                "excludeEmptyValues": False,
                "rightTrim": True,
                "maxReturnedRecords": maxrecs,
                "transactions": [{"transaction": name, "record": fields} for name, fields in chunk],
            }
            response = self._send(
                ("POST", f"{self._ionapi.gateway_url}/M3/m3api-rest/v2/execute", {}, body),
                f"{program} bulk",
                write=any(is_write(name) for name, _ in chunk),
            )
            parsed = parse_body(self._json(response, program, ""), program)
            if len(parsed) != len(chunk):
                error = parsed[0].error if parsed and parsed[0].error else None
                if error is not None:  # the whole request was refused
                    parsed = [MiResult(name, error=error) for name, _ in chunk]
                else:
                    raise PermanentError(
                        f"{program} bulk: {len(chunk)} transactions sent, {len(parsed)} results returned"
                    )
            results.extend(parsed)
        return results

    # -- requests ---------------------------------------------------------------------------------

    def _options(self, maxrecs: int | None, returncols: Sequence[str] | None) -> dict[str, str]:
        options = {"dateformat": "YMD8", "excludeempty": "false", "righttrim": "true"}
        if maxrecs is not None:
            options["maxrecs"] = str(maxrecs)
        if returncols:
            options["returncols"] = ",".join(returncols)
        if self.company:
            options["cono"] = self.company
        if self.division:
            options["divi"] = self.division
        return options

    def _v2_request(self, program, transaction, inputs, maxrecs, returncols) -> Request:
        url = f"{self._ionapi.gateway_url}/M3/m3api-rest/v2/execute/{program}/{transaction}"
        return "GET", url, {**inputs, **self._options(maxrecs, returncols)}, None

    def _v1_request(self, program, transaction, inputs, maxrecs, returncols) -> Request:
        matrix = ""
        if maxrecs is not None:
            matrix += f";maxrecs={maxrecs}"
        if returncols:
            matrix += ";returncols=" + ",".join(returncols)
        if self.company:
            matrix += f";cono={self.company}"
        if self.division:
            matrix += f";divi={self.division}"
        url = f"{self._ionapi.gateway_url}/M3/m3api-rest/execute/{program}/{transaction}{matrix}"
        return "GET", url, inputs, None

    def _send(self, request: Request, describe: str, *, write: bool = False) -> httpx.Response:
        """One MI request through the one HTTP client: a write is resent only when it surely did
        not run (its policy), otherwise TransientError: the engine then asks ``find`` first."""
        method, url, params, body = request
        with self._gate:
            with self._count_lock:
                self.requests += 1
            response = self.api.send(
                method,
                url,
                label=describe,
                write=write,
                params=params,
                json=body,
                headers={"Accept": "application/json"},
                limiter=self._bucket,
                describe=describe,
            )
        if response.status_code == 401:  # renewed once by IonTokenAuth and still refused
            raise AuthenticationError(
                f"the ION gateway rejects a freshly issued token of tenant {self._ionapi.tenant}:"
                " check that the authorized app is active and may call the M3 API suite"
            )
        return response

    def _json(self, response: httpx.Response, program: str, transaction: str) -> object:
        try:
            return response.json()
        except ValueError:
            pass
        where = f"{program}.{transaction}" if transaction else program
        if response.status_code == 403:
            raise AuthenticationError(
                f"{where}: the ION gateway forbids this call (HTTP 403): grant the service account's M3 user access to {program}"
            )
        if response.status_code == 404:
            raise ConfigurationError(
                f"{where}: the ION gateway has no such path (HTTP 404): check 'iu' and 'ti' in the .ionapi file and that the M3 API suite is enabled"
            )
        raise PermanentError(f"{where}: unexpected HTTP {response.status_code} without an MI body")

    def _count(self, program: str, transactions: Sequence[str]) -> None:
        with self._count_lock:
            for name in transactions:
                self.transactions[f"{program}.{name}"] += 1


def _as_strings(fields: Mapping[str, object] | None) -> dict[str, str]:
    """MI inputs are strings; None and empty values are left out (an empty field is no field)."""
    result = {}
    for name, value in (fields or {}).items():
        if value is None:
            continue
        text = str(value)
        if text != "":
            result[name] = text
    return result
