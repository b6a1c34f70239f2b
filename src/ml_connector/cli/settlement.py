"""`ml-connector settlement ...`: preview a settlement report as the journal(s) it would post.

Exit codes: 0 the journal can be posted; 2 the file is quarantined (the reason is on stderr);
1 the command itself is misconfigured (e.g. an unreadable mapping file).
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path

import typer

EXIT_QUARANTINED = 2


class Mode(StrEnum):
    summary = "summary"
    invoice = "invoice"


settlement_app = typer.Typer(
    name="settlement",
    help="Amazon settlement reports: preview the balanced GL journal a report becomes.",
    no_args_is_help=True,
)


@settlement_app.command("show")
def show(
    file: Path = typer.Argument(..., help="A settlement report (flat file V2 or V1; .txt or .gz)."),
    mapping: Path | None = typer.Option(None, "--mapping", help="Account mapping TOML (default: shipped)."),
    mode: Mode = typer.Option(
        Mode.summary, "--mode", help="summary: revenue from settlements; invoice: clear AR."
    ),
    split_by_period: bool = typer.Option(False, "--split-by-period", help="One journal per calendar month."),
    fee_tax: str | None = typer.Option(
        None, "--fee-tax", help="Tax on Amazon's fees: recoverable (input tax) or expense (with the fee)."
    ),
    marketplace: str | None = typer.Option(
        None, "--marketplace", help="Book a report that names no marketplace (fee-only) under this one."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    deferrals: bool = typer.Option(
        False, "--deferrals", help="Then, as CSV, the deferred transactions it paid (from the store)."
    ),
) -> None:
    """Show what a settlement report would post: summary, totals by category, and the journal."""
    from ml_connector.errors import ConfigurationError
    from ml_connector.settlement.errors import QuarantineError
    from ml_connector.settlement.journal_builder import build_journals
    from ml_connector.settlement.mapping import load_mapping
    from ml_connector.settlement.preview import error_to_dict, result_to_dict
    from ml_connector.settlement.reader import open_report

    try:
        account_mapping = load_mapping(mapping)
        if fee_tax:
            account_mapping = account_mapping.with_fee_tax(fee_tax)
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        report = open_report(file)
    except QuarantineError as exc:
        if as_json:
            _print_json(error_to_dict(exc))
        typer.echo(f"quarantined ({exc.reason}): {file}: {exc}", err=True)
        raise typer.Exit(EXIT_QUARANTINED) from None
    with report:
        result = build_journals(
            report, account_mapping, mode=mode.value, split_by_period=split_by_period, marketplace=marketplace
        )
    if as_json:
        _print_json(result_to_dict(result, report.format))
    else:
        _print_tables(result, report.format)
    if deferrals:
        from ml_connector.flows.deferrals import released_csv

        typer.echo(released_csv(file.read_bytes()), nl=False)
    if result.quarantined:
        for error in result.errors:
            typer.echo(f"quarantined ({error.reason}): {file}: {error}", err=True)
        for unmapped in result.unmapped:
            typer.echo(f"\n# add to {account_mapping.source} to map it:\n{unmapped.suggested_rule}", err=True)
        raise typer.Exit(EXIT_QUARANTINED)


@settlement_app.command("set-marketplace")
def set_marketplace(
    settlement_id: str = typer.Argument(
        ..., help="The settlement id (as `status` or the failed record shows it)."
    ),
    marketplace: str = typer.Argument(..., help="The marketplace it belongs to: name (Amazon.de) or id."),
    connection: str | None = typer.Option(
        None, "--connection", help="The connection holding the settlement (needed when several do)."
    ),
) -> None:
    """Answer the question of a held fee-only settlement (no marketplace in the report): store the
    marketplace it books under, then post it again (replay)."""
    from ml_connector.config import load_config
    from ml_connector.engine.replay import replay_record
    from ml_connector.engine.store import Store
    from ml_connector.errors import MlConnectorError
    from ml_connector.flows import registry
    from ml_connector.flows.settlements import RAW_KIND
    from ml_connector.flows.settlements import set_marketplace as choose

    try:
        config = load_config()
        store = Store.open(config.store_url)
        try:
            candidates = [config.connection(connection)] if connection else list(config.connections)
            holders = [
                c for c in candidates if store.raw_document(c.name, RAW_KIND, settlement_id) is not None
            ]
            if not holders:
                raise MlConnectorError(
                    f"settlement {settlement_id} is not stored on any connection: run `ml-connector sync settlements`"
                )
            if len(holders) > 1:
                names = ", ".join(c.name for c in holders)
                raise MlConnectorError(
                    f"settlement {settlement_id} is on {names}: name one with --connection"
                )
            (conn,) = holders
            name = choose(store, conn, settlement_id, marketplace)
            typer.echo(f"settlement {settlement_id} on {conn.name} books under {name}")
            record = store.find_record(conn.name, "settlement", settlement_id)
            if record is not None and record.state not in ("posted", "found_existing"):
                registry.install_rebuilders()
                outcome = replay_record(store, record.id)
                state = outcome.result.state if outcome.result is not None else "unchanged"
                detail = outcome.result.error if outcome.result is not None and outcome.result.error else ""
                typer.echo(f"replayed: {state}{': ' + detail if detail else ''}")
                if state == "failed":
                    raise typer.Exit(2)
        finally:
            store.close()
    except MlConnectorError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@settlement_app.command("default-mapping")
def default_mapping() -> None:
    """Print the shipped account mapping: redirect it to a file, edit the accounts, pass --mapping."""
    from importlib import resources

    sys.stdout.write(
        resources.files("ml_connector.settlement").joinpath("default_mapping.toml").read_text("utf-8")
    )


def _print_json(data: dict) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _print_tables(result, report_format: str) -> None:  # noqa: ANN001 - BuildResult, imported lazily
    from rich.console import Console
    from rich.table import Table

    console = Console(markup=False, emoji=False)  # cells come from the file: "[/x]" is text, not markup
    s = result.settlement
    deposit = f"{s.deposit_date:%Y-%m-%d}" if s.deposit_date else "-"
    console.print(f"Settlement {s.settlement_id}", style="bold", end="")
    console.print(
        f"  {s.marketplace or ''}  ({report_format.upper()} flat file)\n"
        f"Period   {s.start:%Y-%m-%d %H:%M} to {s.end:%Y-%m-%d %H:%M} UTC\n"
        f"Deposit  {deposit}   total {s.total}   lines {result.line_count}, summing to "
        f"{result.lines_total if result.lines_total is not None else '-'}\n"
        f"Mode     {result.mode}{', split by period' if result.split_by_period else ''}"
    )
    if result.categories:
        table = Table(title="Totals by category (+ = to the seller)", title_justify="left")
        table.add_column("Category")
        table.add_column("Amount", justify="right")
        for name, amount in sorted(result.categories.items(), key=lambda kv: kv[1].amount, reverse=True):
            table.add_row(result.category_labels.get(name, name), amount.as_string())
        console.print(table)
    for journal in result.journals:
        table = Table(
            title=f"Journal {journal.reference}  posting date {journal.posting_date}  ({journal.currency})",
            title_justify="left",
        )
        for column, justify in (("Account", "left"), ("Dimensions", "left"), ("Description", "left")):
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        table.add_column("Debit", justify="right")
        table.add_column("Credit", justify="right")
        for line in journal.lines:
            table.add_row(
                line.account,
                " ".join(f"{k}={v}" for k, v in line.dimensions),
                line.description,
                line.debit.as_string() if line.debit else "",
                line.credit.as_string() if line.credit else "",
            )
        table.add_section()
        table.add_row(
            "", "", "balanced" if journal.balanced else "NOT BALANCED",
            journal.total_debit.as_string(), journal.total_credit.as_string(),
        )  # fmt: skip
        console.print(table)
    if result.unmapped:
        table = Table(title="Unmapped (add a rule for each)", title_justify="left")
        for column in (
            "Transaction type",
            "Amount type",
            "Amount description",
            "Lines",
            "Amount",
            "First line",
        ):
            table.add_column(column)
        for u in result.unmapped:
            table.add_row(
                u.transaction_type, u.amount_type, u.amount_description, str(u.lines), u.amount.as_string(),
                str(u.first_line),
            )  # fmt: skip
        console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(settlement_app, name="settlement")
