"""AcumaticaTarget's find/post and reads against the sandbox over loopback HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ml_connector.errors import PermanentError
from ml_connector.model.documents import JournalDocument, PaymentDocument
from ml_connector.model.money import Money
from ml_connector.sandbox.acumatica import state as world

from .conftest import MAPPED, UNMAPPED, customer_doc, invoice_doc, journal_doc


@pytest.mark.parametrize("auth", ["oauth", "cookie"])
def test_customer_invoice_journal_posted_once_and_found_by_key(acumatica, auth):
    with acumatica.target(auth=auth) as target:
        customer = customer_doc()
        assert target.find(customer) is None
        customer_id = target.post(customer)
        assert customer_id == "AMZ-US"
        assert target.find(customer) == "AMZ-US"

        invoice = invoice_doc("113-0000001-0000001")
        assert target.find(invoice) is None
        number = target.post(invoice)
        assert target.find(invoice) == number

        journal = journal_doc("12345678901")
        assert target.find(journal) is None
        batch = target.post(journal)
        assert target.find(journal) == batch

    records = acumatica.sandbox.records
    assert len(records["Customer"]) == 1
    stored = next(iter(records["SalesInvoice"].values()))
    assert stored["CustomerOrder"] == stored["ExternalRef"] == "113-0000001-0000001"
    assert [(d["InventoryID"], d["Qty"], Decimal(str(d["UnitPrice"]))) for d in stored["Details"]] == [
        (MAPPED[0].acumatica_item, 1, MAPPED[0].price("ATVPDKIKX0DER")),
        (MAPPED[1].acumatica_item, 2, MAPPED[1].price("ATVPDKIKX0DER")),
    ]
    assert stored["Details"][0]["TransactionDescr"] == MAPPED[0].title
    batch_record = next(iter(records["JournalTransaction"].values()))
    assert batch_record["Description"] == "AMZ-STL 12345678901"
    assert batch_record["Status"] == "Posted"  # released through the action, 202 + Location polled
    assert batch_record["Details"][0]["DebitAmount"] == Decimal("812.40")


def test_sales_order_kind_uses_the_sales_order_entity(acumatica):
    with acumatica.target() as target:
        target.post(customer_doc())
        order = invoice_doc("113-0000002-0000002", kind="sales_order")
        number = target.post(order)
        assert number.startswith("SO")
        assert target.find(order) == number
    stored = next(iter(acumatica.sandbox.records["SalesOrder"].values()))
    assert (
        stored["Details"][1]["OrderQty"] == 2 and stored["Details"][0]["LineDescription"] == MAPPED[0].title
    )


def test_version_23_queries_by_customer_order(acumatica):
    with acumatica.target(endpoint_version="23.200.001") as target:
        target.post(customer_doc())
        invoice = invoice_doc("113-0000003-0000003")
        number = target.post(invoice)
        assert target.find(invoice) == number
        assert target.client.calls["GET SalesInvoice"] == 1  # the find, by CustomerOrder
    stored = next(iter(acumatica.sandbox.records["SalesInvoice"].values()))
    assert "ExternalRef" not in stored


def test_unknown_item_is_a_permanent_error_on_its_record_naming_the_field(acumatica):
    with acumatica.target() as target:
        target.post(customer_doc())
        bad = invoice_doc("113-0000004-0000004")
        bad = type(bad)(
            **{
                **{f: getattr(bad, f) for f in bad.__slots__},
                "lines": (
                    bad.lines[0].__class__(
                        item_id="NOPE-1", sku="NOPE", quantity=1, unit_price=bad.lines[0].unit_price
                    ),
                ),
            }
        )
        with pytest.raises(PermanentError) as raised:
            target.post(bad)
        assert raised.value.field == "Details[0].InventoryID"
        assert "cannot be found" in raised.value.target_message
        # the next record is unaffected
        assert target.post(invoice_doc("113-0000005-0000005"))
    assert len(acumatica.sandbox.records["SalesInvoice"]) == 1


def test_missing_required_field_is_a_422_with_the_field(acumatica):
    with acumatica.target() as target:
        with pytest.raises(PermanentError) as raised:
            target.client.put("Customer", {"CustomerID": "AMZ-XX"}, insert_only=True)
        assert raised.value.field == "CustomerName"


def test_missing_record_by_key_is_none_not_an_error(acumatica):
    with acumatica.target() as target:
        assert target.client.get_by_keys("SalesInvoice", "Invoice", "INV999999") is None
        assert target.find(customer_doc("GB", "A1F83G8C2ARO7P")) is None


def test_insert_only_never_overwrites(acumatica):
    with acumatica.target() as target:
        target.post(customer_doc())
        with pytest.raises(PermanentError, match="already exists"):
            target.post(customer_doc())


def test_ar_control_account_is_refused_before_any_call(acumatica):
    with acumatica.target() as target:
        journal = journal_doc("99999999999", account_for_sales=world.AR_CONTROL_ACCOUNT)
        with pytest.raises(PermanentError) as raised:
            target.post(journal)
        assert world.AR_CONTROL_ACCOUNT in str(raised.value)
        assert raised.value.field == "Details[2].Account"
        assert target.call_count == 0
    assert not acumatica.sandbox.records["JournalTransaction"]


def test_unbalanced_journal_is_refused(acumatica):
    with acumatica.target() as target:
        journal = journal_doc("88888888888")
        lines = journal.journal.lines[:2]
        broken = type(journal)(
            key=journal.key,
            journal=type(journal.journal)(
                reference=journal.key,
                currency="USD",
                posting_date=journal.journal.posting_date,
                description="x",
                lines=lines,
            ),
        )
        with pytest.raises(PermanentError, match="does not balance"):
            target.post(broken)


def payment_of(journal: JournalDocument) -> PaymentDocument:
    """The payment the settlements flow decides for the journal: 600 and 400 USD on two orders."""
    usd = lambda amount: Money(Decimal(amount), "USD")  # noqa: E731
    applications = (("113-0000006-0000006", usd("600.00")), ("113-0000007-0000007", usd("400.00")))
    return PaymentDocument(journal.key, journal.journal.posting_date, applications)


def test_payment_mode_applies_an_ar_payment_to_the_invoices(acumatica):
    """The AR payment is its own document with the amounts the flow decided: the journal creates
    none, and the payment is found by its PaymentRef."""
    journal = journal_doc("77777777777")
    payment = payment_of(journal)
    with acumatica.target(invoice_settlement="payment", payment_cash_account="AMZCLEAR") as target:
        target.post(customer_doc())
        target.post(invoice_doc("113-0000006-0000006"))
        target.post(invoice_doc("113-0000007-0000007", count=1))
        batch = target.post(journal)
        assert target.find(journal) == batch
        assert not acumatica.sandbox.records.get("Payment")  # the journal writes no payment
        assert target.find(payment) is None
        number = target.post(payment)
        assert target.find(payment) == number and target.find_all(payment) == [number]
    payments = list(acumatica.sandbox.records["Payment"].values())
    assert len(payments) == 1
    stored = payments[0]
    assert stored["PaymentRef"] == "77777777777" and stored["CashAccount"] == "AMZCLEAR"
    assert Decimal(str(stored["PaymentAmount"])) == Decimal("1000.00")
    assert [row["ReferenceNbr"] for row in stored["DocumentsToApply"]] == ["INV000001", "INV000002"]


def test_a_payment_without_its_cash_account_is_refused_in_words(acumatica):
    payment = payment_of(journal_doc("77777777777"))
    with acumatica.target(invoice_settlement="payment") as target:
        with pytest.raises(PermanentError, match="needs payment_cash_account"):
            target.post(payment)


def test_items_stock_and_prices(acumatica):
    with acumatica.target(sku_map={"CONNECTOR-ONLY-SKU": MAPPED[3].acumatica_item}) as target:
        skus = [p.sku for p in MAPPED[:5]] + [UNMAPPED[0].sku, "CONNECTOR-ONLY-SKU"]
        resolved = target.resolve_items(skus)
        assert resolved[MAPPED[0].sku] == MAPPED[0].acumatica_item  # through the cross-reference
        assert resolved[UNMAPPED[0].sku] is None  # fails only its own record
        assert resolved["CONNECTOR-ONLY-SKU"] == MAPPED[3].acumatica_item
        assert target.item_candidates(MAPPED[2].acumatica_item + "X", limit=1) == [MAPPED[2].acumatica_item]
        target.post(customer_doc())
        target.post(invoice_doc("113-0000008-0000008"))  # takes 1 of item 0 and 2 of item 1
        levels = {level.sku: level for level in target.stock_levels(skus)}
        assert UNMAPPED[0].sku not in levels
        assert levels[MAPPED[0].sku].quantity == MAPPED[0].on_hand - 1
        assert levels[MAPPED[1].sku].quantity == max(0, MAPPED[1].on_hand - 2)
        assert levels[MAPPED[0].sku].price.amount == MAPPED[0].price("A1F83G8C2ARO7P")
        assert levels[MAPPED[0].sku].price.currency == "GBP"
        assert list(target.shipped_orders(datetime(2025, 1, 1, tzinfo=UTC))) == []  # nothing shipped yet
        # 38 items in pages of 15: three pages read once, then cached
        assert target.client.calls["GET StockItem"] == 3


def test_filter_paging_reads_everything_once(acumatica):
    with acumatica.target(page_size=7) as target:
        rows = list(target.client.iterate("StockItem", select="InventoryID"))
        assert len(rows) == len(MAPPED)
        assert len({row["InventoryID"] for row in rows}) == len(MAPPED)
        assert target.client.calls["GET StockItem"] == len(MAPPED) // 7 + 1
        modified = target.settings.stock_item_modified_field
        since = "datetimeoffset'2000-01-01T00:00:00+00:00'"
        assert len(
            target.client.list("StockItem", filter=f"{modified} gt {since}", select="InventoryID")
        ) == len(MAPPED)


@pytest.mark.parametrize("version", ["23.200.001", "24.200.001"])
def test_incremental_reads_use_the_versions_last_modified_field(acumatica, version):
    with acumatica.target(endpoint_version=version, page_size=2) as target:
        target.post(customer_doc())
        for index in range(3):
            target.post(invoice_doc(f"113-0000030-{index:07d}"))
        acumatica.clock.advance(60)
        watermark = acumatica.clock.now()
        acumatica.clock.advance(60)
        later = [invoice_doc(f"113-0000031-{index:07d}") for index in range(3)]
        for document in later:
            target.post(document)
        changed = list(target.client.modified_since("SalesInvoice", watermark, select="CustomerOrder"))
        assert sorted(row["CustomerOrder"] for row in changed) == [d.key for d in later]
        assert target.client.calls["GET SalesInvoice"] == 2  # pages of 2: a full page, then a short one
        items = list(target.client.modified_since("StockItem", watermark, also="ItemStatus eq 'Active'"))
        assert items == []  # nothing touched the items since


def test_versions_without_a_modified_field_are_named():
    from ml_connector.errors import ConfigurationError
    from ml_connector.targets.acumatica.client import modified_field

    assert modified_field("23.200.001", "StockItem") == "LastModified"
    assert modified_field("24.200.001", "StockItem") == "LastModifiedDateTime"
    with pytest.raises(ConfigurationError, match="22.200.001"):
        modified_field("22.200.001", "SalesInvoice")


@pytest.mark.parametrize("version", ["23.200.001", "24.200.001"])
def test_shipped_sales_orders_become_shipment_confirmations(acumatica, version):
    with acumatica.target(endpoint_version=version) as target:
        target.post(customer_doc())
        since = acumatica.clock.now()
        shipped, waiting = (
            invoice_doc("113-0000040-0000001", kind="sales_order"),
            invoice_doc("113-0000040-0000002", kind="sales_order"),
        )
        invoice = invoice_doc("113-0000040-0000003")  # a direct invoice: never shipped in Acumatica
        number = target.post(shipped)
        target.post(waiting)
        target.post(invoice)
        acumatica.clock.advance(30)
        acumatica.sandbox.ship_order(number, "1Z999AA10123456784", ship_via="UPS")
        confirmations = list(target.shipped_orders(since))
    assert len(confirmations) == 1
    confirmation = confirmations[0]
    assert confirmation.amazon_order_id == shipped.key
    assert confirmation.marketplace_id == "ATVPDKIKX0DER"
    assert (confirmation.carrier, confirmation.tracking_number) == ("UPS", "1Z999AA10123456784")
    assert confirmation.items == tuple((line.order_item_id, line.quantity) for line in shipped.lines)
    assert confirmation.ship_date.date() == acumatica.clock.now().date()


def test_invoices_released_when_configured(acumatica):
    with acumatica.target(release_invoices=True) as target:
        target.post(customer_doc())
        number = target.post(invoice_doc("113-0000060-0000001"))
        assert (
            target.client.get_by_keys("SalesInvoice", "Invoice", number, select="Status")["Status"] == "Open"
        )
