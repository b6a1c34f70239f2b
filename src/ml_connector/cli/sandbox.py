"""`ml-connector sandbox`: serve the SP-API, ION + M3 and Acumatica simulators on loopback."""

from __future__ import annotations

import contextlib
import importlib
import json
import signal
import threading

import typer

SANDBOXES = {  # name -> (module with create_app, default port)
    "amazon": ("ml_connector.sandbox.amazon.app", 8701),
    "m3": ("ml_connector.sandbox.m3.app", 8702),
    "acumatica": ("ml_connector.sandbox.acumatica.app", 8703),
}

sandbox_app = typer.Typer(help="Serve the simulators of SP-API, ION + M3 and Acumatica on 127.0.0.1.")


def _factory(name: str):
    module_name, _ = SANDBOXES[name]
    try:
        return importlib.import_module(module_name).create_app
    except (ImportError, AttributeError):
        return None


@sandbox_app.command()
def serve(
    only: list[str] = typer.Option(
        None, "--only", help="Serve only these sandboxes (amazon, m3, acumatica); repeat for several."
    ),
    port_base: int = typer.Option(
        8701, min=1, max=65533, help="amazon on this port, m3 on +1, acumatica on +2."
    ),
    time_scale: float = typer.Option(
        1.0, min=0.001, max=1e6, help="Run sandbox time this many times faster (rate limits, expiry)."
    ),
    seed: int = typer.Option(7, help="Seed of the generated seller data."),
) -> None:
    """Serve the sandboxes until Ctrl-C (127.0.0.1 only), and print how to connect to them."""
    from ml_connector.clock import Clock
    from ml_connector.errors import ConfigurationError
    from ml_connector.sandbox.instructions import config_snippet, connect_commands
    from ml_connector.sandbox.server import serve_in_thread

    unknown = sorted(set(only or ()) - set(SANDBOXES))
    if unknown:
        raise ConfigurationError(
            f"--only {', '.join(unknown)}: no such sandbox; the sandboxes are {', '.join(SANDBOXES)}"
        )
    clock = Clock(time_scale)
    running = []
    urls: dict[str, str] = {}
    try:
        for offset, name in enumerate(SANDBOXES):
            if only and name not in only:
                continue
            factory = _factory(name)
            if factory is None:
                typer.echo(f"{name}: not available in this build", err=True)
                continue
            port = port_base + offset
            try:
                server = serve_in_thread(factory(clock=clock, seed=seed), port=port, name=name)
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot serve the {name} sandbox on 127.0.0.1:{port}: {exc.strerror}; "
                    "stop what listens there, or choose other ports with --port-base"
                ) from None
            running.append(server)
            urls[name] = server.url
            typer.echo(f"{name:10} {server.url}")
        if not running:
            raise ConfigurationError("no sandbox could be served in this build")
        typer.echo("\nConnect to them (in another shell; each line as it is):")
        for line in connect_commands(urls):
            typer.echo(f"  {line}")
        typer.echo(
            "\nThen put this in config.toml (`ml-connector config path` says where), and run `ml-connector ping`:"
        )
        typer.echo(config_snippet(urls, time_scale))
        typer.echo("Serving until Ctrl-C.")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    finally:
        for server in running:
            server.stop()


@sandbox_app.command()
def ionapi(
    url: str = typer.Option("http://127.0.0.1:8702", help="Base URL of the running M3 sandbox."),
) -> None:
    """Print a .ionapi credentials file for the M3 sandbox tenant (for `connect m3 --ionapi`)."""
    module = importlib.import_module(SANDBOXES["m3"][0])
    typer.echo(json.dumps(module.ionapi_document(url), indent=2))


def register(app: typer.Typer) -> None:
    app.add_typer(sandbox_app, name="sandbox")
