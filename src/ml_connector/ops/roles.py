"""Who may do what in the console (and through the ops layer): four roles, each a set of actions.

viewer reads; finance resolves, maps accounts and retries settlements; operator retries, maps SKUs,
runs, pauses and pings; admin does everything, users and connections included.
"""

from __future__ import annotations

ROLES = ("viewer", "finance", "operator", "admin")
SETTLEMENT_KINDS = ("settlement", "journal", "ar_payment")

ACTIONS: dict[str, frozenset[str]] = {
    "retry": frozenset({"operator", "admin"}),
    "retry_settlement": frozenset({"finance", "operator", "admin"}),
    "resolve": frozenset({"finance", "admin"}),
    "add_rule": frozenset({"finance", "admin"}),
    "map_sku": frozenset({"operator", "admin"}),
    "run_now": frozenset({"operator", "admin"}),
    "pause": frozenset({"operator", "admin"}),
    "ping": frozenset({"operator", "admin"}),
    "add_connection": frozenset({"admin"}),
    "rotate_credentials": frozenset({"admin"}),
    "manage_users": frozenset({"admin"}),
}


def can(role: str, action: str) -> bool:
    return role in ACTIONS.get(action, frozenset())


def retry_action(kind: str) -> str:
    """Retrying a settlement or journal is finance's work as well as operations'."""
    return "retry_settlement" if kind in SETTLEMENT_KINDS else "retry"


class Forbidden(Exception):
    """The user's role does not allow the action (HTTP 403 in the console)."""

    def __init__(self, user: str, role: str, action: str) -> None:
        super().__init__(f"{user} ({role}) may not {action.replace('_', ' ')}")


def require(user: str, role: str, action: str) -> None:
    if not can(role, action):
        raise Forbidden(user, role, action)
