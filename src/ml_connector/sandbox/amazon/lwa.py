"""The Login with Amazon token endpoint: refresh-token and client-credentials grants, form or JSON
bodies, one-hour tokens, and OAuth's error codes (invalid_client is the one answered with 401)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse

from ml_connector.sandbox.amazon.state import TOKEN_LIFETIME, SandboxState

GRANTLESS_SCOPES = {
    "sellingpartnerapi::notifications",
    "sellingpartnerapi::client_credential:rotation",
    "sellingpartnerapi::migration",
}


def _error(status: int, code: str, description: str) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


async def token_endpoint(request: Request) -> JSONResponse:
    state: SandboxState = request.app.state.sandbox
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            form = {k: str(v) for k, v in json.loads(raw or b"{}").items()}
        except (ValueError, AttributeError):
            return _error(400, "invalid_request", "The request body is not valid JSON.")
    else:
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
    creds = state.credentials
    if form.get("client_id") != creds.client_id or form.get("client_secret") != creds.client_secret:
        return _error(401, "invalid_client", "Client authentication failed")
    if state.client_secret_expired:
        return _error(401, "invalid_client", "The client secret has expired")
    grant = form.get("grant_type")
    if grant == "refresh_token":
        refresh = form.get("refresh_token")
        if refresh != creds.refresh_token or refresh in state.revoked_refresh_tokens:
            return _error(400, "invalid_grant", "The request has an invalid grant parameter : refresh_token")
        token = state.issue("access")
        return JSONResponse(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": TOKEN_LIFETIME,
                "refresh_token": refresh,
            }
        )
    if grant == "client_credentials":
        scope = form.get("scope", "")
        if scope not in GRANTLESS_SCOPES:
            return _error(400, "invalid_scope", "The requested scope is invalid")
        token = state.issue("grantless")
        return JSONResponse(
            {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_LIFETIME, "scope": scope}
        )
    return _error(400, "unsupported_grant_type", "The grant type is not supported")
