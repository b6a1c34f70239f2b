"""Endpoint version, sign-in and sign-out, token renewal, the licence's login limit, throttling."""

from __future__ import annotations

import pytest

from ml_connector.clock import Clock
from ml_connector.errors import AuthenticationError, ConfigurationError, TransientError
from ml_connector.sandbox.acumatica.state import SandboxConfig
from ml_connector.sandbox.faults import FaultPlan
from ml_connector.targets.acumatica import AcumaticaCredentials, AcumaticaTarget
from ml_connector.targets.acumatica.endpoint import parse_instance_info, require_version
from ml_connector.transport.retry import RetryPolicy

from .conftest import CREDENTIALS, customer_doc, invoice_doc


def test_check_passes_and_signs_out(acumatica):
    with acumatica.target() as target:
        assert target.check() == []
        assert acumatica.sandbox.open_sessions == 0  # the probe's session is gone already
    assert acumatica.sandbox.requests["POST /entity/auth/logout"] == 1


@pytest.mark.parametrize("auth", ["oauth", "cookie"])
def test_wrong_version_is_named_with_the_versions_offered(acumatica, auth):
    with acumatica.target(endpoint_version="22.200.001", auth=auth) as target:
        problems = target.check()
        assert len(problems) == 1
        assert "22.200.001" in problems[0] and "23.200.001, 24.200.001" in problems[0]
        with pytest.raises(ConfigurationError, match="offers Default versions 23.200.001, 24.200.001"):
            target.find(invoice_doc("113-0000001-0000009"))


def test_an_upgrade_that_drops_the_version_is_caught_by_check(acumatica):
    with acumatica.target(endpoint_version="23.200.001") as target:
        assert target.check() == []
        acumatica.sandbox.config.versions = ("24.200.001",)  # the instance was upgraded
        assert "offers Default versions 24.200.001" in target.check()[0]


def test_bad_credentials_fail_check_without_leaking_the_password(acumatica):
    wrong = AcumaticaCredentials(
        CREDENTIALS.username, "not-the-password", CREDENTIALS.client_id, CREDENTIALS.client_secret
    )
    with acumatica.target(credentials=wrong) as target:
        problems = target.check()
        assert problems and "refused" in problems[0] and "not-the-password" not in problems[0]
        with pytest.raises(AuthenticationError) as raised:
            target.find(customer_doc())
        assert "not-the-password" not in str(raised.value)
    assert "not-the-password" not in repr(wrong)


def test_instance_info_shapes():
    bare = parse_instance_info([{"name": "Default", "version": "23.200.001"}])
    require_version(bare, "Default", "23.200.001")
    with pytest.raises(ConfigurationError, match="offers no Default endpoint"):
        require_version(parse_instance_info({"endpoints": []}), "Default", "24.200.001")


@pytest.mark.parametrize("auth", ["oauth", "cookie"])
def test_expired_tokens_and_sessions_are_renewed_transparently(acumatica, auth):
    acumatica.faults.rate_expire_token = 0.3
    with acumatica.target(auth=auth) as target:
        target.post(customer_doc())
        for index in range(8):
            target.post(invoice_doc(f"113-0000010-{index:07d}"))
    assert acumatica.faults.injected["expire_token"] > 0
    assert len(acumatica.sandbox.records["SalesInvoice"]) == 8


def test_token_renewed_before_expiry_with_the_rotating_refresh_token(acumatica):
    with acumatica.target() as target:
        target.post(customer_doc())
        session = target.client.session
        first_refresh = session._refresh
        acumatica.clock.advance(3600 - 60)  # inside the renewal margin
        assert target.find(customer_doc()) == "AMZ-US"
        assert session._refresh != first_refresh  # rotated
        assert acumatica.sandbox.requests["POST /identity/connect/token"] == 2
        assert acumatica.sandbox.unclosed_sessions == 1  # refreshing reuses the one session
        assert first_refresh not in acumatica.sandbox.refresh  # the old refresh token is dead


def test_refresh_chain_expired_falls_back_to_a_new_sign_in(acumatica):
    with acumatica.target() as target:
        target.post(customer_doc())
        target.client.session._expires_at = 0.0
        acumatica.sandbox.refresh.clear()  # the 30-day chain ended
        assert target.find(customer_doc()) == "AMZ-US"


class _FreeSeatOnSleep(Clock):
    """A clock whose first backoff sleep signs another integration out: the seat frees up while
    the connector waits, deterministically."""

    def __init__(self, base: Clock, free) -> None:
        super().__init__(base.scale)
        self._free = free

    def sleep(self, seconds: float) -> None:
        if self._free:
            self._free()
            self._free = None
        super().sleep(seconds)


@pytest.mark.parametrize(
    "sandbox_config", [SandboxConfig(login_limit_status=429), SandboxConfig(login_limit_status=500)]
)
@pytest.mark.parametrize("auth", ["oauth", "cookie"])
def test_login_limit_is_retried_after_backoff(acumatica, auth):
    others = [acumatica.sandbox.open_session("cookie", "other-integration") for _ in range(2)]
    clock = _FreeSeatOnSleep(acumatica.clock, lambda: acumatica.sandbox.close_session(others[0].session_id))
    retry = RetryPolicy(attempts=4, base=0.5, cap=8.0, clock=clock)
    with AcumaticaTarget(acumatica.settings(auth=auth), CREDENTIALS, clock=clock, retry=retry) as target:
        assert target.find(customer_doc()) is None
    assert acumatica.sandbox.login_refusals == 1
    acumatica.sandbox.close_session(others[1].session_id)


@pytest.mark.parametrize("sandbox_config", [SandboxConfig(login_limit_status=500)])
def test_login_limit_that_persists_is_transient_and_named(acumatica):
    others = [acumatica.sandbox.open_session("cookie", "other-integration") for _ in range(2)]
    try:
        with acumatica.target(attempts=3) as target, pytest.raises(TransientError, match="API Login Limit"):
            target.find(customer_doc())
        assert acumatica.sandbox.login_refusals == 3
    finally:
        for other in others:
            acumatica.sandbox.close_session(other.session_id)


def test_sessions_are_signed_out_even_when_posting_fails(acumatica):
    with pytest.raises(RuntimeError), acumatica.target() as target:
        target.post(customer_doc())
        raise RuntimeError("the flow crashed")
    # the fixture asserts zero open sessions


@pytest.mark.parametrize("sandbox_config", [SandboxConfig(requests_per_minute=3, burst=2)])
def test_request_rate_limit_answers_429_and_the_client_backs_off(acumatica):
    """Sandbox time runs 100x, so 3 requests a minute is 5 a second of real time: the 429s come
    whatever the machine's speed, and their Retry-After paces the client."""
    with acumatica.target() as target:
        target.post(customer_doc())
        for index in range(4):
            target.post(invoice_doc(f"113-0000020-{index:07d}"))
    assert acumatica.sandbox.throttled > 0
    assert len(acumatica.sandbox.records["SalesInvoice"]) == 4


@pytest.mark.parametrize("auth", ["oauth", "cookie"])
def test_sign_out_survives_a_server_error_storm(acumatica, auth):
    with acumatica.target(auth=auth) as target:
        target.post(customer_doc())
        # seed 1 draws 0.134 then 0.847: the first sign-out attempt fails (500), the second passes
        acumatica.faults.__dict__.update(
            FaultPlan(rate_500=0.3, rate_503=0.2, rate_drop=0.1, seed=1).__dict__
        )
    # the fixture asserts the seat was freed; the seeded plan failed the first sign-out attempts
    assert acumatica.faults.injected == {"500": 1}
    assert acumatica.sandbox.requests["POST /entity/auth/logout"] == 1


def test_no_entity_on_an_action_is_a_clear_permanent_error(acumatica):
    from ml_connector.errors import PermanentError

    with (
        acumatica.target() as target,
        pytest.raises(PermanentError, match="No entity satisfies the condition"),
    ):
        target.client.invoke(
            "JournalTransaction", "ReleaseJournalTransaction", {"id": "00000000-0000-0000-0000-000000000000"}
        )


def test_cookie_session_timed_out_idle_signs_in_again(acumatica):
    with acumatica.target(auth="cookie") as target:
        target.post(customer_doc())
        acumatica.clock.advance(601)  # ten minutes idle: the server dropped the session
        assert target.find(customer_doc()) == "AMZ-US"
        assert acumatica.sandbox.requests["POST /entity/auth/login"] == 2
