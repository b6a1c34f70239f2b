"""The error vocabulary every layer shares.

Two questions decide what the engine does with a failure: may it be retried (transient) and does it
belong to one record only (permanent, stored on that record) or to the whole run (configuration).
Messages never carry secrets: callers pass the target's own words, not the request that caused them.
"""

from __future__ import annotations


class MlConnectorError(Exception):
    """Base of every error ml-connector raises on purpose."""


class ConfigurationError(MlConnectorError):
    """The deployment is wrong (file, mapping, credentials); fixing it needs a person."""


class TransientError(MlConnectorError):
    """Worth retrying later: throttling, 5xx, timeouts, dropped connections."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(MlConnectorError):
    """The target refused this record; retrying the same input cannot succeed.

    ``target_message`` is the ERP's or Amazon's own text, kept verbatim for the audit trail.
    """

    def __init__(self, message: str, *, target_message: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.target_message = target_message or message
        self.field = field


class AuthenticationError(ConfigurationError):
    """Credentials were refused; the message says which and how to fix it."""
