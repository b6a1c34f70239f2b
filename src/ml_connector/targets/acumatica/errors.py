"""Acumatica's answers turned into the connector's error vocabulary.

Acumatica uses 500 for many permanent refusals (a missing record, invalid credentials, missing
setup) and 429 *or* 500 for the licence's "API Login Limit", so status codes alone mislead: the
HttpError body (``exceptionType``/``exceptionMessage``) decides.
"""

from __future__ import annotations

import httpx

from ml_connector.errors import AuthenticationError, PermanentError, TransientError
from ml_connector.targets.acumatica.values import field_errors, loads

LOGIN_LIMIT = "API Login Limit"
NO_ENTITY = "NoEntitySatisfiesTheConditionException"
# A long-running action (a release) still runs on the document: an earlier run's release goes on
# on the server after that run died, so the next find meets it; ask again later.
BUSY = "previous operation has not been completed"


def body_json(response: httpx.Response) -> object:
    try:
        return loads(response.content)
    except ValueError:
        return None


def is_login_limit(response: httpx.Response) -> bool:
    """The licence refused a new session, whatever the status code and body format."""
    return response.status_code >= 400 and LOGIN_LIMIT.lower() in response.text.lower()


def http_error(response: httpx.Response) -> dict | None:
    """The HttpError object of a failed call, if the body is one."""
    data = body_json(response)
    if isinstance(data, dict) and ("exceptionMessage" in data or "exceptionType" in data):
        return data
    return None


def is_no_entity(response: httpx.Response) -> bool:
    error = http_error(response)
    return error is not None and (
        NO_ENTITY in str(error.get("exceptionType", ""))
        or "No entity satisfies" in str(error.get("exceptionMessage", ""))
    )


def target_message(response: httpx.Response) -> str:
    """The ERP's own words for a failure (never the request, which may carry secrets)."""
    error = http_error(response)
    if error:
        return str(error.get("exceptionMessage") or error.get("message") or "")
    data = body_json(response)
    if isinstance(data, dict):
        problems = field_errors(data)
        if problems:
            return "; ".join(f"{path}: {text}" if path else text for path, text in problems)
        if "message" in data:
            return str(data["message"])
    return response.text[:300]


def raise_for_status(response: httpx.Response, describe: str) -> None:
    """Turn a final (non-retried) failure into the right error; 2xx passes."""
    status = response.status_code
    if status < 400:
        return
    message = target_message(response)
    if is_login_limit(response):
        raise TransientError(
            f"{describe}: Acumatica API Login Limit reached; sign out other API sessions or raise the licence's API user limit"
        )
    if BUSY in message.lower():
        raise TransientError(f"{describe}: Acumatica is still running an earlier action on this document")
    if status == 422:
        data = body_json(response)
        problems = field_errors(data) if isinstance(data, dict) else []
        first_field = next((path for path, _ in problems if path), None)
        raise PermanentError(f"{describe} refused: {message}", target_message=message, field=first_field)
    if status in (401, 403):
        raise AuthenticationError(
            f"{describe}: Acumatica answered {status} ({message}); check the user's rights and credentials"
        )
    if status in (429, 502, 503, 504) or (status == 500 and http_error(response) is None):
        raise TransientError(f"{describe}: HTTP {status}")
    raise PermanentError(f"{describe} failed (HTTP {status}): {message}", target_message=message)
