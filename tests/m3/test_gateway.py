"""The ION gateway path over loopback: token grant, renewal before expiry, 401 in the middle of a run,
revocation on close, 429 storms and 5xx, MI validation errors, the v1 path."""

from __future__ import annotations

import pytest

from ml_connector.errors import AuthenticationError, ConfigurationError, TransientError
from ml_connector.sandbox.m3.app import CLIENT_SECRET, SERVICE_ACCOUNT_SECRET
from ml_connector.targets.m3 import M3Target, MiConfigurationError, MiError, parse_ionapi
from ml_connector.transport.ratelimit import TokenBucket

from .conftest import customer_doc, journal_doc, order_doc, settings


def test_token_is_reused_then_renewed_before_expiry(m3):
    target = m3.target()
    with_token = target.mi.call("MMS200MI", "Get", {"ITNO": "A10000"})
    assert with_token[0]["ITNO"] == "A10000"
    target.mi.call("MMS200MI", "Get", {"ITNO": "A10001"})
    assert target.tokens.grants == 1
    m3.clock.advance(7200 - 200)  # inside the renewal margin: renewed before the gateway refuses it
    target.mi.call("MMS200MI", "Get", {"ITNO": "A10000"})
    assert target.tokens.grants == 2
    target.close()
    assert m3.sandbox.gateway.revoked == 1  # the current token; the replaced one simply expires
    assert len(m3.sandbox.gateway.tokens) == 1


def test_401_in_the_middle_of_a_run_renews_once_and_loses_nothing(m3):
    target = m3.target()
    target.post(customer_doc())
    m3.sandbox.gateway.expire_all()  # the gateway forgets every token (expiry, revocation, restart)
    journal = journal_doc()
    target.post(journal)
    assert target.tokens.grants == 2
    assert len(m3.sandbox.vouchers()) == 1 and len(m3.sandbox.customers()) == 1
    m3.sandbox.gateway.app_disabled = True  # every presented token rejected: renewal cannot help
    with pytest.raises(AuthenticationError, match="freshly issued token"):
        target.find(journal)
    target.close()


def test_wrong_credentials_say_what_to_fix_without_secrets(m3):
    document = {**m3.ionapi, "sask": "wrong-secret"}
    target = M3Target(parse_ionapi(document), settings(), clock=m3.clock)
    problems = target.check()
    assert len(problems) == 1 and "service account" in problems[0] and "Create Service Account" in problems[0]
    assert "wrong-secret" not in problems[0] and SERVICE_ACCOUNT_SECRET not in problems[0]
    wrong_client = M3Target(parse_ionapi({**m3.ionapi, "cs": "nope"}), settings(), clock=m3.clock)
    with pytest.raises(AuthenticationError, match="client id/secret") as caught:
        wrong_client.find(customer_doc())
    assert CLIENT_SECRET not in str(caught.value)
    wrong_tenant = M3Target(
        parse_ionapi({**m3.ionapi, "pu": m3.server.url + "/OTHER/as/", "ti": "OTHER"}),
        settings(),
        clock=m3.clock,
    )
    with pytest.raises(ConfigurationError, match="404"):
        wrong_tenant.find(customer_doc())


def test_check_names_a_bad_template_and_missing_warehouse(m3):
    assert m3.target().check() == []
    problems = m3.target(customer_template="NOSUCH", warehouse="").check()
    assert any("NOSUCH" in p and "does not exist" in p for p in problems)
    assert any("warehouse is not set" in p for p in problems)


def test_429_storm_backs_off_and_posts_exactly_once(m3):
    m3.faults.rate_429 = 0.4
    target = m3.target(attempts=12)
    customer = target.post(customer_doc())
    journal_id = target.post(journal_doc())
    assert target.find(journal_doc()) == journal_id
    assert target.find(customer_doc()) == customer
    assert target.mi.retries > 0 and m3.faults.injected.get("429", 0) > 0
    assert len(m3.sandbox.vouchers()) == 1 and len(m3.sandbox.customers()) == 1
    target.close()


def test_reads_are_resent_after_5xx_but_writes_are_not(m3):
    m3.faults.rate_503 = 0.5
    target = m3.target(attempts=12)
    for _ in range(10):
        target.find(customer_doc())  # reads: resent until they pass
    m3.faults.rate_503 = 1.0
    with pytest.raises(TransientError, match="not resent blindly"):
        target.post(customer_doc())
    assert m3.faults.injected["503"] >= 1


@pytest.mark.parametrize(
    "lost",
    [
        "CRS610MI.Add",
        "OIS100MI.AddBatchHead",
        "OIS100MI.AddBatchLine",
        "OIS100MI.Confirm",
        "GLS840MI.AddBatchLine",
        "GLS840MI.UpdBatch",
    ],
)
def test_a_write_whose_reply_is_lost_is_not_duplicated(m3, lost):
    """M3 ran the Add but the gateway answered 504: the client must not resend; asking find() first
    (what the engine does on TransientError) then settles it with one record."""
    target = m3.target()
    customer = target.post(customer_doc()) if lost != "CRS610MI.Add" else None
    m3.sandbox.lose_replies[lost] = 1
    document = (
        customer_doc()
        if customer is None
        else (journal_doc() if lost.startswith("GLS") else order_doc("114-7777777-0000001", customer))
    )
    erp_id = None
    for _ in range(3):  # the engine's loop: find, then post; a transient error goes round again
        erp_id = target.find(document)
        if erp_id is not None:
            break
        try:
            erp_id = target.post(document)
            break
        except TransientError:
            continue
    assert erp_id is not None and m3.sandbox.lose_replies[lost] == 0
    assert len(m3.sandbox.customers()) == 1
    assert len(m3.sandbox.vouchers()) == (1 if lost.startswith("GLS") else 0)
    assert len(m3.sandbox.orders()) == (1 if lost.startswith("OIS") else 0)


def test_spike_arrest_throttles_the_tenant(m3):
    m3.sandbox.gateway.throttle = TokenBucket(0.2, 5, clock=m3.clock)  # a tight tenant quota
    target = m3.target(attempts=10)
    for _ in range(40):
        target.mi.call("MMS200MI", "Get", {"ITNO": "A10000"})
    assert m3.sandbox.gateway.throttled > 0  # 429s happened and were absorbed by backoff
    target.close()


def test_a_storm_that_never_ends_is_transient_not_lost(m3):
    m3.faults.rate_429 = 1.0
    target = m3.target(attempts=3)
    with pytest.raises(TransientError):
        target.find(customer_doc())


def test_mi_validation_errors_come_back_with_type_and_field(m3):
    mi = m3.target().mi
    with pytest.raises(MiError) as missing:
        mi.call("OIS100MI", "AddBatchLine", {"ORNO": "1"})
    assert missing.value.error_type == "MandatoryInputFieldNotFound" and missing.value.field == "ITNO"
    with pytest.raises(MiError) as too_long:
        mi.call("CRS610MI", "GetBasicData", {"CUNO": "X" * 11})
    assert too_long.value.error_type == "InputFieldTooLong"
    with pytest.raises(MiError) as nok:
        mi.call("CRS610MI", "GetBasicData", {"CUNO": "ZZZ"})
    assert nok.value.code == "WCU0203" and "does not exist" in nok.value.target_message
    with pytest.raises(MiConfigurationError):
        mi.call("CRS610MI", "NoSuchTransaction", {})


def test_v1_path_with_matrix_parameters(m3):
    target = m3.target(api_version="v1")
    customer = target.post(customer_doc())
    assert target.find(customer_doc()) == customer
    rows = target.mi.call("MMS025MI", "LstAliasViaCat", {"ALWT": "3", "ALWQ": "AMZS"}, maxrecs=5)
    assert len(rows) == 5
    assert target.resolve_items(["MLC-MUG-01A"]) == {"MLC-MUG-01A": "A10000"}
    with pytest.raises(MiError, match="WCU0203"):
        target.mi.call("CRS610MI", "GetBasicData", {"CUNO": "ZZZ"})
    target.close()


def test_concurrent_calls_per_tenant_are_bounded(m3):
    import threading

    target = m3.target(max_concurrent=2)
    gate = target.mi._gate
    seen = []
    original = target.mi.api.send

    def watch(*args, **kwargs):
        seen.append(2 - gate._value)
        return original(*args, **kwargs)

    target.mi.api.send = watch
    threads = [
        threading.Thread(target=target.mi.call, args=("MMS200MI", "Get", {"ITNO": "A10000"}))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and max(seen) <= 2


def test_the_sandbox_expires_tokens_on_its_clock(m3):
    import httpx

    target = m3.target()
    token = target.tokens.token()
    url = f"{m3.server.url}/MLC_TST/M3/m3api-rest/v2/execute/MMS200MI/Get"
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(url, params={"ITNO": "A10000"}, headers=headers).status_code == 200
    m3.clock.advance(7201)
    assert httpx.get(url, params={"ITNO": "A10000"}, headers=headers).status_code == 401
    assert target.mi.call("MMS200MI", "Get", {"ITNO": "A10000"})  # the client simply renews
    assert target.tokens.grants == 2


def test_no_secret_or_token_reaches_the_logs(m3, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    m3.faults.rate_429 = 0.3
    m3.faults.rate_expire_token = 0.1
    target = m3.target(attempts=12)
    target.post(customer_doc())
    target.post(journal_doc())
    tokens = list(m3.sandbox.gateway.tokens)
    target.close()
    text = caplog.text
    assert "retry" in text  # the storm was logged...
    for secret in (CLIENT_SECRET, SERVICE_ACCOUNT_SECRET, *tokens):
        assert secret not in text  # ...without credentials or tokens
