"""Reconcile ties an M3 connection in invoice mode invoice by invoice: each order's settlement
amount against the total M3 invoiced for it (OIS350MI.LstAllInvByCO)."""

from __future__ import annotations

from decimal import Decimal

from ml_connector.flows import orders, reconcile, settlements
from ml_connector.flows.context import open_context
from ml_connector.sandbox.deployment import M3_CONNECTION


def _run(deployment, store, flow):
    ctx = open_context(store, deployment.config.connection(M3_CONNECTION), clock=deployment.clock)
    try:
        return flow.run(ctx), ctx
    finally:
        ctx.close()


def test_m3_in_invoice_mode_ties_out_invoice_by_invoice(deployment, store):
    text = deployment.config_path.read_text()
    deployment.config_path.write_text(text.replace('mode = "summary"', 'mode = "invoice"', 1))
    assert deployment.config.connection(M3_CONNECTION).mode == "invoice"
    _run(deployment, store, orders)
    m3 = deployment.state("m3")
    invoiced = 0
    for order in m3.orders():
        if order["head"]["ORST"] < "66":
            m3.deliver(order["head"]["ORNO"])
        m3.invoice(order["head"]["ORNO"])
        invoiced += 1
    assert invoiced
    _run(deployment, store, settlements)
    summary, ctx = _run(deployment, store, reconcile)
    facts = summary.facts["reconcile"]
    tied = [o for f in facts for o in f["orders"] if o["erp_id"]]
    assert tied, "settled orders were entered in M3 and invoiced there"
    by_cuor = {o["head"]["CUOR"]: o for o in m3.orders()}
    for o in tied:
        invoice = [i for i in m3.world.invoices if i["ORNO"] == by_cuor[o["order_id"]]["head"]["ORNO"]]
        assert Decimal(o["invoice"]) == Decimal(o["settlement"]) == sum(Decimal(i["IVAV"]) for i in invoice)
    assert {d["check"] for f in facts for d in f["differences"]} <= {"invoice"}
    assert all(d["message"] == "no ERP invoice for this order" for f in facts for d in f["differences"])
    # One OIS350MI read per order (plus one LstHead per order customer), and nothing written.
    assert m3.world.invoices and len(m3.orders()) == invoiced

    # An invoice M3 holds for another amount is named with its order and the difference.
    victim = tied[0]
    row = next(i for i in m3.world.invoices if i["ORNO"] == by_cuor[victim["order_id"]]["head"]["ORNO"])
    row["IVAV"] = str(Decimal(row["IVAV"]) + Decimal("3.10"))
    ctx = open_context(store, deployment.config.connection(M3_CONNECTION), clock=deployment.clock)
    try:
        again = reconcile.reconcile(ctx)
    finally:
        ctx.close()
    named = [d.as_dict() for r in again for d in r.differences if d.order_id == victim["order_id"]]
    assert [(d["check"], d["difference"]) for d in named] == [("invoice", "3.10")]
    assert "M3" not in named[0]["message"] or named[0]["message"].startswith("ERP invoice")
