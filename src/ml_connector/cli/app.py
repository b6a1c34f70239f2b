"""The `ml-connector` root command: each command group lives in its own module and registers here."""

from __future__ import annotations

import importlib
import logging

import typer

app = typer.Typer(
    name="ml-connector",
    help=(
        "Amazon Seller Central into Infor M3 / CloudSuite and Acumatica: settlement journals, "
        "orders, items, stock, prices and shipments, each posted exactly once."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

# Each module exposes register(app); a module owns its commands and nothing else.
COMMAND_MODULES = (
    "ml_connector.cli.settlement",
    "ml_connector.cli.engine",
    "ml_connector.cli.sandbox",
    "ml_connector.cli.flows",
    "ml_connector.cli.reconcile",
    "ml_connector.cli.demo",
    "ml_connector.cli.console",
)

for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


@app.callback()
def root() -> None:
    """Amazon Seller Central into Infor M3 / CloudSuite and Acumatica, exactly once."""


@app.command()
def version() -> None:
    """Print the installed ml-connector version."""
    from ml_connector import __version__

    typer.echo(__version__)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()
