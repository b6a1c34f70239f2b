"""The M3 adapter against the sandbox: journals, customers, orders, items, stock and shipments."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ml_connector.errors import PermanentError
from ml_connector.sandbox.catalog import products
from ml_connector.targets.m3 import DOCUMENTED_LAYOUT, ParmLayout
from ml_connector.targets.m3.gls840 import batch_key
from ml_connector.targets.protocol import ErpTarget

from .conftest import customer_doc, journal_doc, order_doc, usd


def test_is_an_erp_target(m3):
    assert isinstance(m3.target(), ErpTarget)


def test_journal_becomes_one_balanced_voucher_carrying_the_reference(m3):
    target = m3.target()
    document = journal_doc("24071630011")
    assert target.find(document) is None
    voucher_id = target.post(document)
    assert target.find(document) == voucher_id
    [voucher] = m3.sandbox.vouchers()
    lines = voucher["lines"]
    assert len(lines) == 5
    assert sum(Decimal(line["CUAM"]) for line in lines) == 0
    assert all(line["VTXT"].startswith("24071630011 ") for line in lines)
    assert {line["AIT1"] for line in lines} == {"1930", "3010", "2610", "6570"}
    assert lines[0]["AIT2"] == "AMZUS" and lines[0]["CUCD"] == "USD" and lines[0]["ACDT"] == "20261120"
    assert [line["DBCR"] for line in lines] == ["D", "C", "C", "D", "D"]
    head = target.mi.call(
        "GLS200MI", "GetVoucherHead", {"DIVI": "AAA", "YEA4": "2026", "VONO": voucher["VONO"]}
    )[0]
    assert Decimal(head["DSUM"]) == Decimal(head["CSUM"]) == Decimal("1012.60")


def test_document_total_reads_the_voucher_back(m3):
    target = m3.target()
    target.post(journal_doc("24071630011"))
    assert target.document_total("journal", "24071630011", "USD") == usd("1012.60")
    fresh = m3.target(journal_lookup_days=3650)  # another run: no posting date known, looks back
    assert fresh.document_total("journal", "24071630011", "USD") == usd("1012.60")
    assert fresh.document_total("journal", "99999999999", "USD") is None
    assert fresh.document_total("sales_invoice", "114-0000000-0000001", "USD") is None  # no such order
    with pytest.raises(NotImplementedError):
        fresh.document_total("sales_order", "114-0000000-0000001", "USD")


def test_mi_calls_per_journal(m3):
    target = m3.target()
    target.find(journal_doc())
    target.post(journal_doc())
    calls = dict(target.mi.transactions)
    # find + (AddBatchHead + 5 AddBatchLine in one bulk request + CtrlBatch + UpdBatch + read back)
    assert sum(calls.values()) == 1 + 1 + 5 + 1 + 1 + 1
    assert target.mi.requests == 6


def test_a_batch_that_fails_control_is_reported_and_never_updated(m3):
    m3.sandbox.world.blocked_accounts.add("6999")
    target = m3.target()
    with pytest.raises(PermanentError) as caught:
        target.post(journal_doc(fee_account="6999"))
    assert "failed its control and was not updated" in str(caught.value)
    assert "Account 6999 does not exist or is blocked" in caught.value.target_message
    assert m3.sandbox.vouchers() == []
    [batch] = m3.sandbox.world.gl_batches.values()
    assert batch.status == "errors"
    assert target.mi.transactions["GLS840MI.UpdBatch"] == 0


def test_unbalanced_or_unfit_journals_never_leave_the_connector(m3):
    from ml_connector.model.documents import JournalDocument

    target = m3.target()
    document = journal_doc()
    unbalanced = JournalDocument(
        document.key,
        type(document.journal)(**{**_fields(document.journal), "lines": document.journal.lines[:-1]}),
    )
    with pytest.raises(PermanentError, match="does not balance"):
        target.post(unbalanced)
    with pytest.raises(PermanentError, match="40-character"):
        target.post(journal_doc("X" * 45))
    assert target.mi.requests == 0


def _fields(journal) -> dict:
    return {name: getattr(journal, name) for name in journal.__dataclass_fields__}


def test_a_leftover_interface_batch_is_abandoned_not_reused(m3):
    target = m3.target()
    document = journal_doc()
    stale = batch_key(document.key, 0)
    target.mi.call(
        "GLS840MI",
        "AddBatchHead",
        {"CONO": "100", "KEY1": stale, "INTN": "GLUPLOAD", "DESC": "crashed run", "DIVI": "AAA"},
    )
    target.post(document)
    assert m3.sandbox.world.gl_batches[("AAA", stale)].status == "open"  # never updated
    assert m3.sandbox.world.gl_batches[("AAA", batch_key(document.key, 1))].status == "updated"
    assert len(m3.sandbox.vouchers()) == 1


def test_settings_from_a_toml_table():
    from ml_connector.errors import ConfigurationError
    from ml_connector.targets.m3 import M3Settings

    layout = {
        "fields": [{"name": "record_id", "start": 1, "length": 2}, {"name": "AIT1", "start": 3, "length": 10}]
    }
    settings = M3Settings.from_mapping(
        {"company": 200, "alias_type": "3", "gls840_layout": layout, "tenant": "X", "division": ""}
    )
    assert settings.company == "200" and settings.alias_type == 3 and settings.gls840_layout.width == 12
    with pytest.raises(ConfigurationError, match="alias_type"):
        M3Settings(alias_type="EAN")
    with pytest.raises(ConfigurationError, match="overlaps"):
        M3Settings.from_mapping(
            {
                "gls840_layout": {
                    "fields": [{"name": "A", "start": 1, "length": 5}, {"name": "B", "start": 3, "length": 2}]
                }
            }
        )


def test_parm_layout_is_configurable():
    record = DOCUMENTED_LAYOUT.render(
        {
            "run": "123456789",
            "group": "00000001",
            "DIVI": "AAA",
            "AIT1": "1930",
            "CUCD": "USD",
            "CUAM": "-12.50",
            "ACDT": "20261120",
            "VTXT": "K text",
        }
    )
    assert record[:2] == "I1" and record[2:11] == "123456789" and record[19:22] == "AAA"
    assert record[22:32] == "1930      " and record[92:95] == "USD" and record[95:112] == "-12.50".rjust(17)
    assert record[112:120] == "20261120" and record[120:] == "K text"
    custom = ParmLayout.from_config(
        {
            "record_id": "G1",
            "decimal_separator": ",",
            "fields": [
                {"name": "record_id", "start": 1, "length": 2},
                {"name": "AIT1", "start": 3, "length": 8},
                {"name": "CUAM", "start": 11, "length": 12, "align": "right"},
            ],
        }
    )
    assert custom.render({"AIT1": "1930", "CUAM": "-12,50"}) == "G11930          -12,50"
    with pytest.raises(ValueError, match="longer"):
        custom.render({"AIT1": "123456789"})


def test_customer_per_marketplace_from_the_template(m3):
    target = m3.target()
    assert target.find(customer_doc()) is None
    number = target.post(customer_doc())
    assert target.find(customer_doc()) == number
    [customer] = m3.sandbox.customers()
    assert (
        customer["YREF"] == "AMAZON-US"
        and customer["CUNM"] == "Amazon Amazon.com"
        and customer["STAT"] == "20"
    )
    assert customer["CUCD"] == "USD"  # copied from the template


def test_customer_per_buyer_carries_the_address(m3):
    from ml_connector.model.documents import CustomerDocument
    from ml_connector.model.orders import Address

    target = m3.target()
    buyer = CustomerDocument(
        "AMZB3F9A2C",
        "Jane Buyer",
        "USD",
        "US",
        Address("Jane Buyer", "1 Main St", None, "Seattle", "WA", "98101", "US"),
    )
    number = target.post(buyer)
    assert target.find(buyer) == number and target.find(customer_doc()) is None
    [customer] = m3.sandbox.customers()
    assert (customer["CUA1"], customer["TOWN"], customer["PONO"], customer["YREF"]) == (
        "1 Main St",
        "Seattle",
        "98101",
        "AMZB3F9A2C",
    )


def test_m3_adds_are_not_idempotent_in_the_sandbox(m3):
    target = m3.target()
    target.post(customer_doc())
    target.post(customer_doc())  # what a connector without query-first would do
    assert len(m3.sandbox.customers()) == 2
    mi = target.mi
    mi.call("CRS610MI", "Add", {"CUTM": "AMZTEMPL", "CUNM": "Fixed", "CUA1": "x", "CUNO": "AMZFIX"})
    with pytest.raises(PermanentError, match="already exists"):
        mi.call("CRS610MI", "Add", {"CUTM": "AMZTEMPL", "CUNM": "Fixed", "CUA1": "x", "CUNO": "AMZFIX"})


def test_order_entered_confirmed_and_found_by_cuor(m3):
    target = m3.target()
    customer = target.post(customer_doc())
    document = order_doc("114-1234567-7654321", customer)
    calls, requests = sum(target.mi.transactions.values()), target.mi.requests
    assert target.find(document) is None
    number = target.post(document)
    # find: EXPORTMI.Select on OXHEAD and OOHEAD by CUOR in one bulk request; post: AddBatchHead,
    # then AddBatchAddress + 2 AddBatchLine in one bulk request, then Confirm
    assert sum(target.mi.transactions.values()) - calls == 2 + 1 + 1 + 2 + 1
    assert target.mi.requests - requests == 1 + 3
    assert target.find(document) == number
    [order] = m3.sandbox.orders()
    assert order["head"]["CUOR"] == "114-1234567-7654321" and order["head"]["ORNO"] == number
    assert order["head"]["YREF"] == "ATVPDKIKX0DER" and order["head"]["ORTP"] == "AMZ"
    assert [line["ORST"] for line in order["lines"]] == ["33", "33"]
    assert order["lines"][0]["SAPR"] == str(products()[0].price("ATVPDKIKX0DER"))
    batch = next(iter(m3.sandbox.world.batch_orders.values()))
    assert batch.address["CUNM"] == "Jane Buyer" and batch.address["ECAR"] == "WA"


def test_finding_an_order_costs_the_same_however_many_orders_m3_holds(m3):
    """By key through EXPORTMI: the answer to find does not grow with the orders already in M3."""
    target = m3.target()
    customer = target.post(customer_doc())

    def find_cost(key: str) -> tuple[int, int]:
        before = (m3.sandbox.answer_bytes, sum(m3.sandbox.transactions.values()))
        assert target.find(order_doc(key, customer)) is None
        return m3.sandbox.answer_bytes - before[0], sum(m3.sandbox.transactions.values()) - before[1]

    empty = find_cost("114-9999999-0000000")
    for n in range(30):
        target.post(order_doc(f"114-{n:07d}-1111111", customer))
    assert find_cost("114-9999999-0000001") == empty
    target.close()


def test_a_tenant_that_locks_exportmi_falls_back_to_listing(m3, caplog):
    m3.sandbox.world.exportmi_allowed = False
    target = m3.target()
    customer = target.post(customer_doc())
    document = order_doc("114-1234567-7654399", customer)
    with caplog.at_level("WARNING"):
        assert target.find(document) is None
    assert "does not allow EXPORTMI" in caplog.text
    number = target.post(document)
    assert target.find(document) == number
    assert m3.sandbox.transactions["OIS100MI.LstHead"] >= 1
    listing = m3.target(order_lookup="listing")
    assert listing.find(document) == number
    target.close()
    listing.close()


def test_a_refused_confirmation_surfaces_m3s_reasons_and_is_entered_again_after_the_fix(m3):
    target = m3.target()
    customer = target.post(customer_doc())
    item = order_doc("114-0000000-0000001", customer).lines[0].item_id
    m3.sandbox.world.block_item(item)
    document = order_doc("114-0000000-0000001", customer)
    with pytest.raises(PermanentError) as caught:
        target.post(document)
    assert (
        "not confirmed" in str(caught.value)
        and "MM00201" in str(caught.value)
        and "status 90" in str(caught.value)
    )
    assert target.find(document) is None and m3.sandbox.orders() == []
    m3.sandbox.world.items[item]["STAT"] = "20"  # someone fixes the item in M3
    number = target.post(document)
    assert [o["head"]["ORNO"] for o in m3.sandbox.orders()] == [number]
    assert len(m3.sandbox.world.batch_orders) == 1  # the refused batch order was deleted, not left twice


def test_an_unknown_item_fails_only_its_order_clearly(m3):
    target = m3.target()
    customer = target.post(customer_doc())
    with pytest.raises(
        PermanentError, match=r"SKU MLC-\S+ \(item NOSUCH\) refused by M3: Item number NOSUCH does not exist"
    ):
        target.post(order_doc("114-0000000-0000002", customer, lines=1, item="NOSUCH"))
    good = target.post(order_doc("114-0000000-0000003", customer))
    assert [o["head"]["ORNO"] for o in m3.sandbox.orders()] == [good]


def test_items_aliases_long_skus_and_unmapped(m3):
    catalog = products()
    long_skus = [p for p in catalog if len(p.sku) > 30]
    unmapped = [p for p in catalog if p.m3_item is None]
    assert len(long_skus) == 2 and len(unmapped) == 2
    target = m3.target(sku_map={long_skus[0].sku: long_skus[0].m3_item})
    skus = [p.sku for p in catalog[:4]] + [p.sku for p in long_skus + unmapped]
    resolved = target.resolve_items(skus)
    assert all(resolved[p.sku] == p.m3_item for p in catalog[:4])
    assert resolved[long_skus[0].sku] == long_skus[0].m3_item  # through the connector-side map
    assert resolved[long_skus[1].sku] is None  # too long for an alias, not in the map
    assert all(resolved[p.sku] is None for p in unmapped)
    m3.sandbox.world.block_item(catalog[0].m3_item)
    assert target.resolve_items([catalog[0].sku]) == {catalog[0].sku: None}  # MMS200MI says blocked
    candidates = target.item_candidates(long_skus[1].sku)  # MLC-TEE-LIMITED-...: no alias of its own
    tees = {p.m3_item for p in catalog if "-TEE-" in p.sku}
    assert 1 <= len(candidates) <= 3 and candidates[0] in tees


def test_stock_available_to_sell_formula(m3):
    target = m3.target()
    product = products()[0]
    customer = target.post(customer_doc())
    target.post(order_doc("114-0000000-0000004", customer, lines=1))  # allocates 1
    [level] = target.stock_levels([product.sku])
    assert (
        level.quantity == product.on_hand - 1
        and level.item_id == product.m3_item
        and level.warehouse == "100"
    )
    [on_hand] = m3.target(available_to_sell="STQT").stock_levels([product.sku])
    assert on_hand.quantity == product.on_hand
    [custom] = m3.target(available_to_sell="STQT - ALQT - REQT").stock_levels([product.sku])
    assert custom.quantity == product.on_hand - 1
    unmapped = next(p for p in products() if p.m3_item is None)
    assert [lvl.sku for lvl in target.stock_levels([product.sku, unmapped.sku])] == [product.sku]


def test_shipments_read_delivered_lines_with_carrier_and_tracking(m3):
    target = m3.target()
    customer = target.post(customer_doc())
    delivered_no = target.post(order_doc("114-0000000-0000005", customer))
    target.post(order_doc("114-0000000-0000006", customer))  # not shipped yet
    since = m3.clock.now()
    m3.sandbox.deliver(delivered_no, carrier="UPS", tracking="1Z999AA10123456784")
    [shipment] = target.shipped_orders(since)
    assert shipment.amazon_order_id == "114-0000000-0000005"
    assert shipment.marketplace_id == "ATVPDKIKX0DER"
    assert (shipment.carrier, shipment.tracking_number) == ("UPS", "1Z999AA10123456784")
    assert shipment.items == (("00000050000000", 1), ("00000050000001", 2))
    assert target.shipped_orders(datetime(2999, 1, 1, tzinfo=UTC)) == []
    assert m3.target(order_customers=("AMZTEMPL",)).shipped_orders(since) == []  # only the named customers
