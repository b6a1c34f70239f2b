"""M3 MI REST client behind the ION API gateway.

One ``call`` = one MI transaction (``GET .../m3api-rest/v2/execute/{PROGRAM}/{TRANSACTION}``, or the
v1 path where a tenant still needs it); ``bulk`` = many transactions of one program in one
``POST .../v2/execute``. Errors are read from the body whatever the HTTP status; 401 renews the
token once; 429/5xx/transport errors back off through the shared retry policy; a per-tenant
semaphore bounds concurrent calls (the gateway throttles per tenant, not per client).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import httpx

from ml_connector.errors import AuthenticationError, ConfigurationError, PermanentError, TransientError
from ml_connector.targets.m3.ionapi import IonApiFile
from ml_connector.targets.m3.responses import MiResult, Record, parse_body
from ml_connector.targets.m3.token import IonTokenClient
from ml_connector.transport.clock import SYSTEM_CLOCK, Clock
from ml_connector.transport.ratelimit import TokenBucket
from ml_connector.transport.retry import RetryPolicy, send_with_retry

log = logging.getLogger(__name__)

BULK_CHUNK = 100
WRITE_PREFIXES = ("Add", "Chg", "Upd", "Del", "Dlt", "Confirm", "Copy", "Cpy", "Rel", "Crt")


def is_write(transaction: str) -> bool:
    """MI writes are named, not methoded: Add/Chg/Dlt... are all GETs."""
    return transaction.startswith(WRITE_PREFIXES)


def surely_unprocessed(response: httpx.Response | None, error: BaseException | None) -> bool:
    """True only when M3 cannot have run the transaction: the gateway's spike arrest (429) or a
    connection that was never made. A 5xx, a timeout or a dropped reply may follow a completed Add."""
    if response is not None:
        return response.status_code == 429
    return isinstance(
        error, httpx.ConnectError | httpx.ConnectTimeout
    )  # transactions per bulk request (public clients chunk at 100-150)


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
        http: httpx.Client,
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
        self._http = http
        self.company = str(company) if company not in (None, "") else None
        self.division = division
        self._retry = retry or RetryPolicy(clock=clock)
        self._gate = tenant_gate(ionapi.gateway_url, max_concurrent)
        self._bucket = (
            TokenBucket(rate_per_second, max(1.0, rate_per_second), clock=clock) if rate_per_second else None
        )
        self.api_version = api_version
        self.transactions: Counter[str] = Counter()  # "PROGRAM.Transaction" -> MI transactions sent
        self.requests = 0  # HTTP requests (first attempts)
        self.retries = 0  # extra attempts after 429/5xx/transport errors
        self._count_lock = threading.Lock()

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
            response = self._send(
                lambda token: self._v1_request(program, transaction, inputs, maxrecs, returncols, token),
                f"{program}.{transaction}",
                write=is_write(transaction),
            )
        else:
            response = self._send(
                lambda token: self._v2_request(program, transaction, inputs, maxrecs, returncols, token),
                f"{program}.{transaction}",
                write=is_write(transaction),
            )
        results = parse_body(self._json(response, program, transaction), program, transaction)
        return results[0].raise_for_error()

    def bulk(
        self, program: str, calls: Iterable[tuple[str, Mapping[str, object]]], *, maxrecs: int = 0
    ) -> list[MiResult]:
        """Run transactions of one program in order, ``BULK_CHUNK`` per request; each result carries its
        own records or error (errors are not raised here: the caller decides per transaction)."""
        pending = [(name, _as_strings(fields)) for name, fields in calls]
        if self.api_version == "v1":  # v1 has no bulk endpoint: one request each
            results = []
            for name, fields in pending:
                self._count(program, [name])
                response = self._send(
                    lambda token, n=name, f=fields: self._v1_request(program, n, f, maxrecs, None, token),
                    f"{program}.{name}",
                    write=is_write(name),
                )
                results.extend(parse_body(self._json(response, program, name), program, name)[:1])
            return results
        results: list[MiResult] = []
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
                lambda token, b=body: self._bulk_request(b, token),
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

    def _v2_request(self, program, transaction, inputs, maxrecs, returncols, token) -> httpx.Request:
        url = f"{self._ionapi.gateway_url}/M3/m3api-rest/v2/execute/{program}/{transaction}"
        params = {**inputs, **self._options(maxrecs, returncols)}
        return self._http.build_request("GET", url, params=params, headers=_headers(token))

    def _v1_request(self, program, transaction, inputs, maxrecs, returncols, token) -> httpx.Request:
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
        return self._http.build_request("GET", url, params=inputs, headers=_headers(token))

    def _bulk_request(self, body: dict, token: str) -> httpx.Request:
        url = f"{self._ionapi.gateway_url}/M3/m3api-rest/v2/execute"
        return self._http.build_request("POST", url, json=body, headers=_headers(token))

    def _send(self, build, describe: str, *, write: bool = False) -> httpx.Response:
        """Send with the token; a write is resent only when it surely did not run (see
        ``surely_unprocessed``), otherwise TransientError: the engine then asks ``find`` first."""
        with self._gate:
            with self._count_lock:
                self.requests += 1
            token = self._tokens.token()
            response = self._send_with_token(build, token, describe, write)
            if response.status_code == 401:  # expired or revoked underneath us: renew once
                log.info("%s: HTTP 401, renewing the ION token", describe)
                token = self._tokens.renew(token)
                response = self._send_with_token(build, token, describe, write)
                if response.status_code == 401:
                    raise AuthenticationError(
                        f"the ION gateway rejects a freshly issued token of tenant {self._ionapi.tenant}:"
                        " check that the authorized app is active and may call the M3 API suite"
                    )
            return response

    def _send_with_token(self, build, token: str, describe: str, write: bool = False) -> httpx.Response:
        def before_retry(attempt, response, error) -> None:
            if write and not surely_unprocessed(response, error):
                problem = f"HTTP {response.status_code}" if response is not None else type(error).__name__
                raise TransientError(
                    f"{describe}: {problem}; an MI write is not resent blindly (it may have run)"
                )
            with self._count_lock:
                self.retries += 1

        def request() -> httpx.Request:
            if self._bucket is not None:
                self._bucket.acquire()
            return build(token)

        return send_with_retry(self._http, request, self._retry, before_retry=before_retry, describe=describe)

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


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


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
