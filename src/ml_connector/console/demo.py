"""`ml-connector demo --console`: the console on the demo's home, with the sandboxes still up, so
every screen and action works on the demo's data (retries and pings reach the simulators)."""

from __future__ import annotations

import contextlib
import secrets

import typer

from ml_connector.sandbox.deployment import SandboxDeployment

DEMO_USER = "demo"
DEMO_PORT = 8700


def serve_demo_console(deployment: SandboxDeployment, *, port: int = DEMO_PORT) -> None:
    """Make (or, on a rerun, reset) the admin user with a fresh password, print both, serve on
    loopback until Ctrl-C."""
    from ml_connector.console.server import serve
    from ml_connector.ops import users

    password = secrets.token_urlsafe(12)
    store = deployment.open_store()
    try:
        if any(u.name == DEMO_USER for u in users.list_users(store)):  # a rerun on the same home
            users.set_role(store, DEMO_USER, "admin")
            users.set_password(store, DEMO_USER, password)  # its old sessions end
        else:
            users.add_user(store, DEMO_USER, "admin", password)
        typer.echo("")
        typer.echo(f"Console: sign in as {DEMO_USER} with password {password} (admin; this demo only)")
        with contextlib.suppress(
            KeyboardInterrupt
        ):  # uvicorn stops on Ctrl-C itself; this is belt and braces
            serve(store, deployment.config_path, host="127.0.0.1", port=port, say=typer.echo)
    finally:
        store.close()
    typer.echo("console stopped")
