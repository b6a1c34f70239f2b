"""The one response policy (transport.client.POLICY), through MockTransport: every status and failure
class gets its documented action, reads are retried, writes are never resent after an ambiguous
failure, and the Auth renews once."""

from __future__ import annotations

import httpx
import pytest

from ml_connector.clock import SteppedClock
from ml_connector.errors import TransientError
from ml_connector.transport import pool
from ml_connector.transport.auth import IonTokenAuth, LwaTokenAuth
from ml_connector.transport.client import ApiClient, Failure
from ml_connector.transport.retry import RetryPolicy

URL = "http://127.0.0.1:9/x"


def _api(handler, *, attempts: int = 4, auth=None, classifier=None) -> tuple[ApiClient, list]:
    sent: list[httpx.Headers] = []  # the headers of each request as it left (a renewal reuses the request)

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(httpx.Headers(request.headers))
        return handler(request, len(sent))

    http = httpx.Client(transport=httpx.MockTransport(record))
    api = ApiClient(
        "test",
        retry=RetryPolicy(attempts=attempts, clock=SteppedClock(), rng=lambda: 0.0),
        http=http,
        auth=auth,
        classifier=classifier,
    )
    return api, sent


def _status_then_ok(status: int):
    return lambda request, n: httpx.Response(status if n == 1 else 200)


def _error_then_ok(error: type[httpx.TransportError]):
    def handler(request, n):
        if n == 1:
            raise error("boom", request=request)
        return httpx.Response(200)

    return handler


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_reads_are_retried_on_throttling_and_server_errors(status):
    api, sent = _api(_status_then_ok(status))
    assert api.send("GET", URL, label="r").status_code == 200
    assert len(sent) == 2 and api.retried["r"] == 1


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError],
)
def test_reads_are_retried_after_any_transport_failure(error):
    api, sent = _api(_error_then_ok(error))
    assert api.send("GET", URL, label="r").status_code == 200
    assert len(sent) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_write_answered_5xx_is_never_resent(status):
    api, sent = _api(_status_then_ok(status))
    with pytest.raises(TransientError, match="not resent blindly"):
        api.send("POST", URL, label="w", content=b"{}")
    assert len(sent) == 1


@pytest.mark.parametrize(
    "error", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.RemoteProtocolError]
)
def test_a_write_after_an_ambiguous_failure_is_never_resent(error):
    """A timeout after sending, a reset connection, a dropped reply: the write may have run."""
    api, sent = _api(_error_then_ok(error))
    with pytest.raises(TransientError, match="not resent blindly"):
        api.send("POST", URL, label="w", content=b"{}")
    assert len(sent) == 1


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ConnectTimeout])
def test_a_write_that_never_left_is_resent(error):
    api, sent = _api(_error_then_ok(error))
    assert api.send("POST", URL, label="w", content=b"{}").status_code == 200
    assert len(sent) == 2


def test_a_throttled_write_is_resent():
    api, sent = _api(_status_then_ok(429))
    assert api.send("POST", URL, label="w").status_code == 200
    assert len(sent) == 2 and api.throttled["w"] == 1


def test_an_mi_write_is_a_get_marked_write():
    api, sent = _api(_status_then_ok(503))
    with pytest.raises(TransientError):
        api.send("GET", URL, label="OIS100MI.AddBatchHead", write=True)
    assert len(sent) == 1


@pytest.mark.parametrize("status", [400, 404, 409, 422, 501])
def test_other_answers_are_fatal_and_handed_back(status):
    api, sent = _api(lambda request, n: httpx.Response(status))
    assert api.send("GET", URL, label="r").status_code == status
    assert api.send("POST", URL, label="w").status_code == status
    assert len(sent) == 2


def test_the_system_classifier_names_what_status_codes_hide():
    refusal = httpx.Response(500, json={"exceptionMessage": "No entity satisfies the condition."})

    def classifier(response):
        if response.status_code == 500 and b"exceptionMessage" in response.content:
            return Failure.SERVER_REFUSAL
        return None

    api, sent = _api(lambda request, n: refusal, classifier=classifier)
    assert api.send("GET", URL, label="r").status_code == 500
    assert len(sent) == 1


class Tokens:
    def __init__(self) -> None:
        self.issued = 0

    def token(self) -> str:
        return f"t{self.issued}"

    def forget(self, used: str) -> None:
        if used == f"t{self.issued}":
            self.issued += 1


def test_the_auth_renews_once_and_resends_even_a_write():
    tokens = Tokens()

    def handler(request, n):
        return httpx.Response(200 if request.headers["Authorization"] == "Bearer t1" else 401)

    api, sent = _api(handler, auth=IonTokenAuth(tokens.token, tokens.forget))
    assert api.send("POST", URL, label="w").status_code == 200
    assert [h["Authorization"] for h in sent] == ["Bearer t0", "Bearer t1"]
    assert api.sent["w"] == 2  # the hooks see the renewal's request too


def test_a_second_refusal_is_handed_back_not_renewed_again():
    tokens = Tokens()
    api, sent = _api(lambda request, n: httpx.Response(403), auth=LwaTokenAuth(tokens.token, tokens.forget))
    assert api.send("GET", URL, label="r").status_code == 403
    assert [h["x-amz-access-token"] for h in sent] == ["t0", "t1"]


def test_the_pool_builds_one_client_per_host_and_refuses_cookies():
    seen = []

    def handler(request):
        seen.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"set-cookie": "session=abc; Path=/"})

    with pool.use_transport(httpx.MockTransport(handler)):
        before = pool.clients_built()
        first = pool.client_for("http://127.0.0.1:8001/a")
        assert pool.client_for("http://127.0.0.1:8001/b/c?d=1") is first
        assert pool.client_for("http://127.0.0.1:8002/a") is not first
        assert pool.clients_built() - before == 2
        first.get("http://127.0.0.1:8001/a")
        first.get("http://127.0.0.1:8001/a")
    assert seen == [None, None]  # the second request carries no cookie of the first
