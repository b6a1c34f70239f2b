"""Serving the console: loopback by default; any other address only over https (its own
certificate), because the session cookie and every password would otherwise cross the network in
clear."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ml_connector.engine.store import Store
from ml_connector.errors import ConfigurationError
from ml_connector.ops.config_edit import is_loopback


def check_binding(host: str, certfile: Path | None, keyfile: Path | None) -> bool:
    """True when the console is served over https. A non-loopback address without a certificate is
    refused with the two ways to do it right."""
    if bool(certfile) != bool(keyfile):
        raise ConfigurationError("give both --certfile and --keyfile to serve the console over https")
    if certfile is None and not is_loopback(host):
        raise ConfigurationError(
            f"the console would listen on {host} over plain http, sending passwords and session cookies "
            "in clear: keep the default 127.0.0.1 behind an https reverse proxy, or give --certfile "
            "and --keyfile to serve https directly"
        )
    return certfile is not None


def serve(
    store: Store,
    config_path: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8700,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Serve until Ctrl-C."""
    import uvicorn

    from ml_connector.console.app import create_app

    https = check_binding(host, certfile, keyfile)
    app = create_app(store, config_path, secure_cookies=https)
    scheme = "https" if https else "http"
    shown = f"[{host}]" if ":" in host else host
    say(f"console: {scheme}://{shown}:{port}/  (Ctrl-C to stop)")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
    )
