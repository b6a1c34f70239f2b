"""The ops layer on the demo world: what the CLI and the console both read and do."""

from __future__ import annotations

from ml_connector.ops import actions, queries
from ml_connector.sandbox.deployment import ACUMATICA_CONNECTION, M3_CONNECTION


def test_overview_counts_every_flow_of_every_connection(world):
    rows = queries.overview(world.store, world.deployment.config)
    assert {M3_CONNECTION, ACUMATICA_CONNECTION} <= {c.name for c in rows}
    m3 = next(c for c in rows if c.name == M3_CONNECTION)
    assert {f.flow for f in m3.flows} >= {"orders", "items", "settlements"}
    orders = next(f for f in m3.flows if f.flow == "orders")
    assert orders.done > 10 and orders.last_state == "finished" and orders.next_run is not None
    assert m3.problems > 0


def test_problems_name_the_unmapped_sku_and_the_quarantined_settlement(world):
    found = queries.problems(world.store, connection=M3_CONNECTION)
    kinds = {r.kind for r in found.rows}
    assert "settlement" in kinds and "sales_order" in kinds
    assert found.by_class.get("mapping", 0) >= 2
    order = next(r for r in found.rows if r.kind == "sales_order")
    detail = queries.record_detail(world.store, order.id)
    assert detail.fix["skus"] and detail.fix["skus"][0]["candidates"]
    settlement = next(r for r in found.rows if r.kind == "settlement")
    rules = queries.record_detail(world.store, settlement.id, world.deployment.config).fix["rules"]
    mapping = (world.home / f"mapping-{M3_CONNECTION}.toml").read_text("utf-8")
    if 'amount_description = "Subscription Fee"' in mapping:  # the browser test added the rule already
        assert rules == []
    else:
        assert rules and rules[0]["amount_description"] == "Subscription Fee"
    only_mapping = queries.problems(world.store, error_class="mapping")
    assert only_mapping.rows and all(r.error_class == "mapping" for r in only_mapping.rows)


def test_settlement_list_and_detail_rebuild_the_journals(world):
    page = queries.settlements(world.store)
    statuses = {r.status for r in page.rows}
    assert "quarantined" in statuses and ({"posted", "tied out"} & statuses)
    posted = next(r for r in page.rows if r.status in ("posted", "tied out", "with differences"))
    detail = queries.settlement_detail(world.store, world.deployment.config, posted.record_id)
    assert detail.result is not None and detail.result.journals
    for journal in detail.result.journals:
        assert journal.balanced
    assert detail.row.total and detail.row.currency


def test_records_page_and_search_by_key(world):
    page = queries.list_records(world.store, flow="orders", limit=5, offset=5)
    assert len(page.rows) == 5 and page.total > 10 and "showing 6-10 of" in page.showing
    key = page.rows[0].key
    found = queries.list_records(world.store, search=key[:7])
    assert key in {r.key for r in found.rows}


def test_runs_and_sku_map(world):
    runs = queries.runs(world.store, connection=M3_CONNECTION)
    assert runs.total >= 6 and runs.rows[0].duration
    skus = queries.sku_map(world.store, world.deployment.config, M3_CONNECTION)
    assert skus.matched and skus.unmatched and skus.unmatched[0]["candidates"]


def test_pause_stops_the_runner_and_is_audited(world):
    from ml_connector.ops.events import recent_actions

    actions.pause(world.store, ACUMATICA_CONNECTION, user="tester", reason="month end")
    try:
        summary = actions.run_now(
            world.store, ACUMATICA_CONNECTION, "orders", user="tester", config=world.deployment.config
        )
        assert summary.counts["skipped_paused"] == 1
    finally:
        actions.resume(world.store, ACUMATICA_CONNECTION, user="tester")
    done = [e.action for e in recent_actions(world.store, connection=ACUMATICA_CONNECTION)]
    assert done[:3] == ["resume", "run_now", "pause"]
