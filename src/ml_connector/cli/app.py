"""The `ml-connector` root command: global options, the one error boundary, and the command groups.

Each command group lives in its own module and registers here. Every exception that escapes a
command ends in `run`, which prints one or two lines in the user's words (cli/failures.py) and
returns a documented exit code; a traceback goes to the log file, and only with `-v`.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import typer

try:  # Typer 0.2x vendors its own Click: its exceptions are not the `click` package's
    from typer import _click as click
except ImportError:  # pragma: no cover - older Typer on plain Click
    import click  # type: ignore[no-redef]

from ml_connector.cli.failures import EXIT_CODES_HELP, EXIT_ERROR, EXIT_INTERRUPTED, explain

ENVIRONMENT_HELP = """Environment variables:
  ML_CONNECTOR_HOME            the home directory (store, master key, log); same as --home
  ML_CONNECTOR_CONFIG          the configuration file; same as --config
  ML_CONNECTOR_DATABASE_URL    the store's database URL (default: SQLite in the home)
  ML_CONNECTOR_MASTER_KEY      the master key (URL-safe base64 of 32 bytes) instead of the key file
  ML_CONNECTOR_NEW_MASTER_KEY  the new key for `vault rotate-key` when the key comes from the environment
  ML_CONNECTOR_LOG             the log file written with -v (default: ml-connector.log in the home)
  ML_CONNECTOR_LWA_CLIENT_ID, ML_CONNECTOR_LWA_CLIENT_SECRET, ML_CONNECTOR_LWA_REFRESH_TOKEN
  ML_CONNECTOR_ACUMATICA_CLIENT_ID, _CLIENT_SECRET, _USERNAME, _PASSWORD
                               secrets for `connect` (or --secrets-stdin, or a hidden prompt)
  NO_COLOR                     any value: no colours (same as --no-color)"""

app = typer.Typer(
    name="ml-connector",
    help=(
        "Amazon Seller Central into Infor M3 / CloudSuite and Acumatica: settlement journals, "
        "orders, items, stock, prices and shipments, each posted exactly once."
    ),
    epilog=f"{EXIT_CODES_HELP}\n\n{ENVIRONMENT_HELP}",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain Click help: survives pipes, no `<bool>` type column
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)

# Each module exposes register(app); a module owns its commands and nothing else.
COMMAND_MODULES = (
    "ml_connector.cli.settlement",
    "ml_connector.cli.engine",
    "ml_connector.cli.sandbox",
    "ml_connector.cli.flows",
    "ml_connector.cli.reconcile",
    "ml_connector.cli.demo",
    "ml_connector.cli.configuration",
    "ml_connector.cli.worker",
    "ml_connector.cli.console",
)

for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


class _Options:
    """What the global options decided, for the error boundary (it runs outside any command)."""

    verbose = False
    quiet = False


def _print_version(value: bool) -> None:
    if value:
        from ml_connector import __version__

        typer.echo(f"ml-connector {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
    home: Path | None = typer.Option(
        None, "--home", help="The home directory (store, master key, log). Env: ML_CONNECTOR_HOME."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="The configuration file. Env: ML_CONNECTOR_CONFIG."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="More detail on stderr; tracebacks written to the log file."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors on stderr, no progress bars."),
    no_color: bool = typer.Option(False, "--no-color", help="No colours. Env: NO_COLOR."),
) -> None:
    """Amazon Seller Central into Infor M3 / CloudSuite and Acumatica, exactly once."""
    from ml_connector.config import CONFIG_ENV
    from ml_connector.engine.paths import HOME_ENV

    if home is not None:
        os.environ[HOME_ENV] = str(home.expanduser().absolute())
    if config is not None:
        os.environ[CONFIG_ENV] = str(config.expanduser().absolute())
    if no_color:
        os.environ["NO_COLOR"] = "1"
    if quiet:
        os.environ["ML_CONNECTOR_QUIET"] = "1"
    _Options.verbose, _Options.quiet = verbose, quiet
    logging.getLogger().setLevel(logging.ERROR if quiet else logging.WARNING)
    logging.getLogger("ml_connector").setLevel(logging.INFO if verbose else logging.NOTSET)


@app.command()
def version() -> None:
    """Print the installed ml-connector version."""
    from ml_connector import __version__

    typer.echo(__version__)


def log_file() -> Path:
    """Where -v writes tracebacks: ML_CONNECTOR_LOG, else ml-connector.log in the home."""
    explicit = os.environ.get("ML_CONNECTOR_LOG")
    if explicit:
        return Path(explicit).expanduser()
    from ml_connector.engine.paths import home

    return home() / "ml-connector.log"


def _write_traceback(exc: BaseException) -> str | None:
    """Append the traceback (secrets scrubbed) to the log file; its path, or None if unwritable."""
    from ml_connector.engine.redact import scrub

    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(scrub("".join(traceback.format_exception(exc))) + "\n")
    except OSError:
        return None
    return str(path)


def _say_error(message: str) -> None:
    lines = message.splitlines() or ["failed"]
    click.echo(f"error: {lines[0]}", err=True)
    for line in lines[1:]:
        click.echo(line if line.startswith(" ") else f"  {line}", err=True)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code; nothing but our own words ever reaches the screen."""
    _Options.verbose = _Options.quiet = False
    try:
        result = app(args=list(argv) if argv is not None else None, standalone_mode=False)
        return result if isinstance(result, int) else 0
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        click.echo("error: interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()  # usage errors: Click's own "Usage: ... Error: ..." lines, which are meant for people
        return EXIT_ERROR
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - this IS the boundary
        explained = explain(exc)
        if explained.code == EXIT_INTERRUPTED:
            click.echo("error: interrupted", err=True)
            return explained.code
        message = explained.message
        if _Options.verbose:
            where = _write_traceback(exc)
            if where:
                message += f"\n  details written to {where}"
        elif explained.internal:
            message += (
                "\n  run the command again with -v to write the details to the log file, and report them"
            )
        _say_error(message)
        return explained.code


class _Words(logging.Formatter):
    """stderr log lines as people read them: "warning: ..." (the logger's name only with -v)."""

    def format(self, record: logging.LogRecord) -> str:
        where = f" [{record.name}]" if _Options.verbose else ""
        return f"{record.levelname.lower()}{where}: {record.getMessage()}"


class _NotTheSummaries(logging.Filter):
    """The runner logs each failed run, which the command already prints as its summary line:
    on stderr that would say everything twice (shown with -v)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return (
            _Options.verbose or record.name != "ml_connector.flows.runner" or record.levelno >= logging.ERROR
        )


def main() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_Words())
    handler.addFilter(_NotTheSummaries())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    code = run()
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):  # `| head`: the reader left, nothing more to say
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
    sys.exit(code)
