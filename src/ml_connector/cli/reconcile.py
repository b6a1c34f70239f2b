"""`ml-connector reconcile [SETTLEMENT]`: the controller's tie-out, every difference named.

Exit codes: 0 everything ties; 2 a difference exists; 1 the command could not run.
"""

from __future__ import annotations

import typer

from ml_connector.errors import MlConnectorError

DIFFERENCES = 2  # the exit code of a tie-out with differences (docs/CLI.md, Exit codes)

HELP = """Tie out settlements: report total = report lines = Finances transactions = the journal's
deposit line = Amazon's listSummary net proceeds and listPayouts transfer, the journal posted in the
ERP and, in invoice mode, each order's settlement amount = its ERP invoice. Without a settlement
id, also each month end: the ledger's reserve and deferred balances = Amazon's listBalances, with
every deferred transaction behind the figure (--json). Every difference is listed by settlement
and order (or month end), with its amount and date.

Exit code 0 when everything ties, 2 when any difference exists, 1 when the command cannot run."""


def reconcile(
    settlement: str | None = typer.Argument(None, help="One settlement id (default: every stored one)."),
    connection: str | None = typer.Option(None, "--connection", "-c", help="Only this connection."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document instead of text."),
) -> None:
    from ml_connector.cli.output import print_json
    from ml_connector.clock import Clock
    from ml_connector.config import load_config
    from ml_connector.engine.store import Store
    from ml_connector.flows.reconcile import reconcile_deployment

    try:
        config = load_config()
        connections = [config.connection(connection)] if connection else list(config.connections)
        store = Store.open(config.store_url)
        try:
            results, months = reconcile_deployment(
                store,
                connections,
                settlement=settlement,
                clock=Clock(config.time_scale),
                only_named=connection is not None,
            )
        finally:
            store.close()
    except MlConnectorError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    ties = all(r.ties for _c, r in results) and all(m.ties for _c, m in months)
    if as_json:
        print_json(
            "reconcile",
            {
                "ties": ties,
                "settlements": [{"connection": name, **r.as_dict()} for name, r in results],
                "month_ends": [{"connection": name, **m.as_dict()} for name, m in months],
            },
        )
    else:
        _print(results)
        _print_months(months)
    if not ties:
        raise typer.Exit(DIFFERENCES)


def _print(results: list) -> None:  # noqa: ANN001 - (connection, TieOut) pairs
    if not results:
        typer.echo("no settlements stored yet: run `ml-connector sync settlements` first")
        return
    for name, r in results:

        def show(money) -> str:  # noqa: ANN001
            return "-" if money is None else money.as_string()

        verdict = "ties" if r.ties else f"{len(r.differences)} difference(s)"
        typer.echo(f"{name} settlement {r.settlement_id} {r.marketplace or ''} {r.currency}: {verdict}")
        typer.echo(f"  report total      {show(r.report_total):>14}")
        typer.echo(f"  report lines      {show(r.lines_total):>14}  ({r.line_count} lines)")
        typer.echo(f"  Finances          {show(r.finances_total):>14}  (group {r.finances_group or 'none'})")
        typer.echo(f"  journal deposit   {show(r.journal_deposit):>14}")
        typer.echo(f"  Amazon summary    {show(r.summary):>14}  (listSummary net proceeds)")
        if r.payout is not None:
            p = r.payout
            typer.echo(
                f"  Amazon payout     {show(p.amount):>14}  ({p.status}, trace {p.trace_id or '-'}, {p.created or '-'})"
            )
        typer.echo(f"  Amazon balance    {show(r.amazon_balance):>14}  (after this settlement)")
        if r.reserve is not None and (r.reserve.released or r.reserve.held or r.reserve.previous_held):
            previous = (
                f"; settlement {r.reserve.previous_settlement} held {show(r.reserve.previous_held)}"
                if r.reserve.previous_settlement
                else ""
            )
            typer.echo(
                f"  reserve released  {show(r.reserve.released):>14}  held {show(r.reserve.held)}, "
                f"balance {show(r.reserve.balance)}{previous}"
            )
        for ref, journal in r.journals.items():
            typer.echo(f"  journal {ref}: {journal.state or 'not posted'} {journal.erp_id or ''}".rstrip())
        if r.orders:
            unequal = {d.order_id for d in r.differences if d.check == "invoice"}
            tied = len(r.orders) - len(unequal)
            typer.echo(f"  orders vs invoices: {tied} of {len(r.orders)} tie")
        for diff in r.differences:
            typer.echo(f"  ! {diff.line()}")
        for note in r.notes:
            typer.echo(f"  note: {note}")


def _print_months(months: list) -> None:  # noqa: ANN001 - (connection, MonthEnd) pairs
    for name, m in months:
        verdict = "ties" if m.ties else f"{len(m.differences)} difference(s)"
        amazon = ", ".join(f"{kind} {money.as_string()}" for kind, money in sorted(m.amazon.items()))
        typer.echo(f"{name} month end {m.period} {m.marketplace_id} {m.currency}: {verdict}")
        reserve = m.ledger_reserve.as_string() if m.ledger_reserve is not None else "-"
        deferred = m.ledger_deferred.as_string() if m.ledger_deferred is not None else "-"
        typer.echo(f"  ledger reserve {reserve}, deferred {deferred}; Amazon {amazon or '-'}")
        for diff in m.differences:
            typer.echo(f"  ! {diff.line()}")
        for note in m.notes:
            typer.echo(f"  note: {note}")


def register(app: typer.Typer) -> None:
    app.command("reconcile", help=HELP)(reconcile)
