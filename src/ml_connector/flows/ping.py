"""Credentials and reachability, per system, in words a person can act on."""

from __future__ import annotations

from ml_connector.clock import SYSTEM_CLOCK, Clock
from ml_connector.config import ConnectionConfig
from ml_connector.engine.store import Store
from ml_connector.errors import MlConnectorError
from ml_connector.flows.context import build_amazon, build_target
from ml_connector.transport.retry import RetryPolicy


def ping_connection(
    store: Store, connection: ConnectionConfig, *, clock: Clock = SYSTEM_CLOCK
) -> list[tuple[str, list[str]]]:
    """[(system, problems)]: an empty list of problems means the system answered as it should."""
    quick = RetryPolicy(attempts=2, base=0.5, cap=2.0, clock=clock)  # a ping must not hang for minutes
    return [
        ("amazon", _amazon(store, connection, clock, quick)),
        (connection.erp, _erp(store, connection, clock, quick)),
    ]


def ping_warnings(connection: ConnectionConfig) -> list[str]:
    """What still works today but will not for long: SP-API operations Amazon has scheduled for removal
    that this connection's flows call (none on the default paths; a fallback would show here)."""
    from ml_connector.flows import registry
    from ml_connector.sources.amazon.operations import removal_warnings

    return removal_warnings(registry.amazon_operations(connection.flows))


def _amazon(store: Store, connection: ConnectionConfig, clock: Clock, retry: RetryPolicy) -> list[str]:
    try:
        client = build_amazon(store, connection.name, clock=clock, retry=retry)
    except MlConnectorError as exc:
        return [str(exc)]
    try:
        participations = {p.marketplace_id for p in client.get_marketplace_participations()}
    except MlConnectorError as exc:
        return [str(exc)]
    finally:
        client.close()
    missing = [m for m in connection.marketplaces if m not in participations]
    if missing:
        return [
            f"the seller account does not participate in {', '.join(missing)}; "
            "remove them from the connection's marketplaces or authorise the app for them in Seller Central"
        ]
    return []


def _erp(store: Store, connection: ConnectionConfig, clock: Clock, retry: RetryPolicy) -> list[str]:
    try:
        target = build_target(store, connection, clock=clock, retry=retry)
    except MlConnectorError as exc:
        return [str(exc)]
    try:
        problems = list(target.check())
        if not problems:
            problems += _mapping_accounts(target, connection)
        return problems
    except MlConnectorError as exc:
        return [str(exc)]
    finally:
        target.close()


def _mapping_accounts(target, connection: ConnectionConfig) -> list[str]:  # noqa: ANN001 - ErpTarget
    """Every account the connection's mapping can put on a journal, against the ERP's chart."""
    from ml_connector.settlement.mapping import load_mapping, producible_accounts

    accounts = producible_accounts(load_mapping(connection.mapping))
    dimensions = {tuple(text.split("=", 1)) for values in accounts.values() for text in values}
    source = connection.mapping or "the default mapping"
    problems = target.check_accounts(sorted(accounts), sorted(dimensions))
    return [f"mapping ({source}): {problem}" for problem in problems]
