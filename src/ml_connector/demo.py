"""`ml-connector demo`: the whole job on a fresh machine, against the sandboxes, in under a minute.

Two sellers (US + CA into M3 in summary mode, UK into Acumatica in invoice mode) run every flow; the
warehouse then ships seller-fulfilled orders in the ERP and a person maps the two SKUs too long for
M3's alias field; failed records are replayed; every flow runs again; and a last pass checks, in the
ERP sandboxes themselves, that no Amazon key was ever posted twice.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from ml_connector.engine.replay import replay_failed
from ml_connector.engine.store import Store
from ml_connector.flows import registry
from ml_connector.flows.context import FlowSummary, Progress
from ml_connector.flows.runner import flows_of, run_flow
from ml_connector.sandbox.catalog import products
from ml_connector.sandbox.deployment import M3_CONNECTION, SandboxDeployment

Say = Callable[[str], None]


@dataclass
class DemoReport:
    passes: list[list[FlowSummary]] = field(default_factory=list)
    calls: dict[tuple[str, str, str], int] = field(default_factory=Counter)  # (connection, flow, system)
    replayed: Counter[str] = field(default_factory=Counter)
    shipped_in_erp: int = 0
    duplicates: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    def total(self, flow: str, outcome: str, connection: str | None = None) -> int:
        return sum(
            s.counts.get(outcome, 0)
            for run in self.passes
            for s in run
            if s.flow == flow and (connection is None or s.connection == connection)
        )

    def facts(self, flow: str, key: str) -> list:
        return [item for run in self.passes for s in run if s.flow == flow for item in s.facts.get(key, [])]


def _erp_of(deployment: SandboxDeployment, connection: str) -> str:
    return deployment.config.connection(connection).erp


def run_pass(
    deployment: SandboxDeployment,
    store: Store,
    report: DemoReport,
    say: Say,
    progress: Callable[[], Progress] | None,
) -> list[FlowSummary]:
    summaries = []
    for connection in deployment.config.connections:
        erp = connection.erp
        for flow in flows_of(connection, None):
            before = {system: deployment.requests(system) for system in ("amazon", erp)}
            summary = run_flow(
                store, connection, flow, clock=deployment.clock, progress=progress() if progress else None
            )
            for system, count in before.items():
                report.calls[(connection.name, flow, system)] += deployment.requests(system) - count
            summaries.append(summary)
            say(summary.line())
            for note in summary.notes[:3]:
                say(f"    {note}")
            if len(summary.notes) > 3:
                say(f"    ... {len(summary.notes) - 3} more")
    report.passes.append(summaries)
    return summaries


def place_live_orders(deployment: SandboxDeployment, count: int = 6) -> list[str]:
    """New Unshipped seller-fulfilled orders, so the shipment flow has something of today to confirm."""
    amazon = deployment.state("amazon")
    markets = ("ATVPDKIKX0DER", "A2EUQ1WTGCTBG2")
    return [
        amazon.place_order(markets[n % 2], channel="MFN", quantity=1 + n % 3).order_id for n in range(count)
    ]


def ship_in_erp(deployment: SandboxDeployment, store: Store) -> int:
    """The warehouse ships every posted seller-fulfilled order, in the ERP (the sandbox's UI hook)."""
    shipped = 0
    for record in store.records(connection=M3_CONNECTION, flow="orders", state="posted"):
        source = record.source or {}
        if record.kind == "sales_order" and source.get("fulfillment_channel") == "MFN" and record.erp_id:
            deployment.state("m3").deliver(record.erp_id, carrier="UPS", tracking=f"1ZDEMO{record.id:08d}")
            shipped += 1
    return shipped


def map_long_skus(config_path: Path) -> list[str]:
    """What a person does for SKUs longer than M3's 30-character alias field: the connector map."""
    long_skus = {p.sku: p.m3_item for p in products() if len(p.sku) > 30 and p.m3_item}
    table = ", ".join(f'"{sku}" = "{item}"' for sku, item in long_skus.items())
    text = config_path.read_text(encoding="utf-8")
    config_path.write_text(
        text.replace('order_type = "AMZ"', f'order_type = "AMZ"\nsku_map = {{ {table} }}'), "utf-8"
    )
    return list(long_skus)


def duplicate_keys(deployment: SandboxDeployment) -> list[str]:
    """Amazon keys that appear on more than one ERP record, read from the ERP sandboxes."""
    found = []
    m3 = deployment.state("m3")
    for what, key in (("M3 order", lambda o: o["head"]["CUOR"]), ("M3 customer", lambda c: c.get("YREF"))):
        rows = m3.orders() if what == "M3 order" else m3.customers()
        counts = Counter(key(row) for row in rows if key(row))
        found += [f"{what} {k} x{n}" for k, n in counts.items() if n > 1]
    references = Counter(
        voucher["lines"][0]["VTXT"].split()[0] for voucher in m3.vouchers() if voucher["lines"]
    )
    found += [f"M3 voucher {ref} x{n}" for ref, n in references.items() if n > 1]
    records = deployment.state("acumatica").records
    for entity, field_name in (
        ("SalesInvoice", "CustomerOrder"),
        ("JournalTransaction", "Description"),
        ("Customer", "CustomerID"),
    ):
        counts = Counter(
            str(row.get(field_name)) for row in records.get(entity, {}).values() if row.get(field_name)
        )
        found += [f"Acumatica {entity} {k} x{n}" for k, n in counts.items() if n > 1]
    return found


REPLAY_WORDS = {
    "posted": "{n} posted",
    "found_existing": "{n} already in the ERP",
    "failed": "{n} still failing",
    "pending": "{n} left to retry",
}


def replayed_words(counts: Counter[str]) -> str:
    """'2 posted, 2 already in the ERP, 7 still failing': the replay's outcome in plain words."""
    parts = [
        REPLAY_WORDS.get(state, "{n} " + state.replace("_", " ")).format(n=n)
        for state, n in sorted(counts.items())
        if n
    ]
    return ", ".join(parts) or "nothing to replay"


def check_keep_dir(path: Path) -> Path:
    """Where `demo --keep` may write: a new or empty directory that is not anyone's home.

    The demo writes a config, a master key and a store there; on an existing home that would replace
    a real deployment's settings and credentials with the demo's, so it is refused before anything
    is written (nothing is created either)."""
    from ml_connector.engine import paths
    from ml_connector.errors import ConfigurationError

    path = path.expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise ConfigurationError(f"--keep {path}: that is a file, not a directory; give a new directory")
    if path.resolve() == paths.home().expanduser().absolute().resolve():
        raise ConfigurationError(
            f"--keep {path} is the home of this installation (ML_CONNECTOR_HOME): the demo never "
            "writes there; give a new, empty directory"
        )
    if path.is_dir() and any(path.iterdir()):
        holds = [
            name for name in ("config.toml", "master.key", paths.DATABASE_FILE) if (path / name).exists()
        ]
        what = f" (it holds {', '.join(holds)}: an ml-connector home)" if holds else ""
        raise ConfigurationError(
            f"--keep {path} is not empty{what}; the demo keeps its files only in a new or empty directory"
        )
    return path


def run_demo(
    say: Say = print,
    *,
    time_scale: float = 600.0,
    home: Path | None = None,
    progress: Callable[[], Progress] | None = None,
    then: Callable[[SandboxDeployment], None] | None = None,
) -> DemoReport:
    """``then`` runs with the sandboxes still up, after the summary (`demo --console` serves there)."""
    if time_scale <= 0 or time_scale != time_scale or time_scale == float("inf"):
        from ml_connector.errors import ConfigurationError

        raise ConfigurationError(f"--time-scale must be a positive number (600 by default), not {time_scale}")
    if home is not None:
        home = check_keep_dir(home)
    started = time.monotonic()
    report = DemoReport()
    registry.install_rebuilders()
    with SandboxDeployment(time_scale=time_scale, home=home) as deployment:
        say("Sandboxes on loopback: " + ", ".join(f"{n} {s.url}" for n, s in deployment.servers.items()))
        for connection in deployment.config.connections:
            say(
                f"Connection {connection.name}: {', '.join(connection.marketplaces)} -> {connection.erp}, {connection.mode} mode"
            )
        store = deployment.open_store()
        try:
            live = place_live_orders(deployment)
            say(f"Live traffic: {len(live)} new seller-fulfilled orders arrive on Amazon.com and Amazon.ca")

            say("\n1. Every flow, once")
            run_pass(deployment, store, report, say, progress)

            say(
                "\n2. Meanwhile: the warehouse ships seller-fulfilled orders in M3, and a person maps the SKUs longer than M3's alias field"
            )
            report.shipped_in_erp = ship_in_erp(deployment, store)
            mapped = map_long_skus(deployment.config_path)
            say(f"   {report.shipped_in_erp} orders delivered in M3; sku_map added for {', '.join(mapped)}")
            for outcome in replay_failed(store):
                report.replayed[outcome.state] += 1
            say(
                f"   replay --failed: {replayed_words(report.replayed)} (SKUs with no ERP item at all stay failed, named)"
            )

            say("\n3. Every flow again: shipments confirmed, nothing posted twice")
            run_pass(deployment, store, report, say, progress)
            say("\n4. And once more, to check")
            run_pass(deployment, store, report, say, progress)
            report.duplicates = duplicate_keys(deployment)
        finally:
            store.close()
        report.wall_seconds = time.monotonic() - started
        for line in summary_lines(report, deployment):
            say(line)
        if home is not None:
            say(
                f"  kept in                 {deployment.home} (config.toml, master.key, ml-connector.sqlite3)"
            )
            say(f"  inspect it with         ml-connector --home {deployment.home} status")
        if then is not None:
            then(deployment)
    return report


def accrual_lines(report: DemoReport) -> list[str]:
    """The month-end accruals of deferred transactions the deferrals flow posted (the first in full)."""
    posted = [
        f for f in report.facts("deferrals", "deferrals") if f["state"] == "posted" and not f["already"]
    ]
    if not posted:
        return ["  month-end accruals      none (no deferred transaction crossed a month end yet)"]
    first = posted[0]
    reasons = Counter(r["reason"] for r in first["rows"] if r["role"] == "accrued")
    why = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
    lines = [
        f"  month-end accrual       {first['key']}: {first['accrued']} {first['currency']} debited to "
        f"{first['account']} Amazon deferred balance ({why}), {first['reversed']} reversed; "
        f"balance {first['balance']} {first['currency']} at {first['period']} end, ERP {first['erp_id']}"
    ]
    if len(posted) > 1:
        others = ", ".join(f"{f['key']} {f['accrued']} {f['currency']}" for f in posted[1:])
        lines.append(f"  other accruals          {others}")
    return lines


def summary_lines(report: DemoReport, deployment: SandboxDeployment) -> list[str]:
    lines = ["", "Summary"]
    totals: dict[str, Decimal] = defaultdict(Decimal)
    settlements = report.facts("settlements", "settlements")
    for fact in settlements:
        totals[fact["currency"]] += Decimal(fact["total"])
    amounts = ", ".join(f"{amount} {currency}" for currency, amount in sorted(totals.items()))
    lines.append(
        f"  settlements posted      {len(settlements)} ({sum(len(f['journals']) for f in settlements)} journals; payouts {amounts})"
    )
    lines.append(
        f"  orders created          {report.total('orders', 'posted')} (+{report.replayed['posted']} on replay); {report.total('orders', 'failed')} failed, each naming its SKU"
    )
    customers = sorted(
        {c for run in report.passes for s in run if s.flow == "orders" for c in s.facts.get("customers", [])}
    )
    lines.append(f"  customers               {len(customers)} ({', '.join(customers)})")
    for flow, outcome, label in (
        ("items", "mapped", "SKUs mapped"),
        ("stock_price", "updated", "stock & price updates"),
        ("shipments", "confirmed", "shipments confirmed"),
    ):
        count = (
            report.total(flow, outcome)
            if flow != "items"
            else sum(s.counts.get(outcome, 0) for s in report.passes[-1] if s.flow == flow)
        )
        lines.append(f"  {label:23} {count}")
    reconcile = [s for run in report.passes[-1:] for s in run if s.flow == "reconcile"]
    if reconcile:
        parts = []
        for s in reconcile:
            tied = s.counts.get("tied", 0) + s.counts.get("already_tied", 0)
            differing = s.counts.get("with_differences", 0)
            parts.append(f"{s.connection} {tied} tied, {differing} with differences")
        lines.append("  reconciliation          " + "; ".join(parts) + " (each difference is named above)")
    lines.extend(accrual_lines(report))
    for name in (c.name for c in deployment.config.connections):
        erp = _erp_of(deployment, name)
        orders = report.total("orders", "posted", name) or 1
        settled = (
            sum(
                1
                for run in report.passes
                for s in run
                if s.flow == "settlements" and s.connection == name
                for _ in s.facts.get("settlements", [])
            )
            or 1
        )
        per_order = {sys: report.calls[(name, "orders", sys)] / orders for sys in ("amazon", erp)}
        per_settlement = {sys: report.calls[(name, "settlements", sys)] / settled for sys in ("amazon", erp)}
        lines.append(
            f"  API calls {name:13} per order: Amazon {per_order['amazon']:.2f}, {erp} {per_order[erp]:.2f}; "
            f"per settlement: Amazon {per_settlement['amazon']:.2f}, {erp} {per_settlement[erp]:.2f}"
        )
    verdict = "none" if not report.duplicates else "; ".join(report.duplicates)
    lines.append(f"  keys posted twice       {verdict}")
    lines.append(f"  wall time               {report.wall_seconds:.1f} s")
    return lines
