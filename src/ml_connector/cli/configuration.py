"""`ml-connector config`: check the configuration file, print the reference of every key."""

from __future__ import annotations

import typer

config_app = typer.Typer(help="The configuration file: check it, or print the reference of its keys.")


@config_app.command("check")
def check() -> None:
    """Read and validate the configuration file; say where it is and what it holds."""
    from ml_connector.config import default_config_path, load_config

    path = default_config_path()
    config = load_config(path)
    names = ", ".join(c.name for c in config.connections)
    typer.echo(f"{path}: valid; {len(config.connections)} connection(s): {names}")


@config_app.command("reference")
def reference() -> None:
    """Print docs/CONFIG.md: every key with its type, default and meaning (made from the models)."""
    from ml_connector.config_reference import render_reference

    typer.echo(render_reference(), nl=False)


@config_app.command("path")
def path() -> None:
    """Print the configuration file's path (--config, ML_CONNECTOR_CONFIG, or the platform's place)."""
    from ml_connector.config import default_config_path

    typer.echo(str(default_config_path()))


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
