"""The default chart against Amazon's whole vocabulary, every marketplace and the booking rules
an accountant checks first: tax on tax accounts, fee tax recoverable (or expensed), one account
for long-term storage, the Amazon balance, the retired XML format."""

from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ml_connector.settlement.errors import RetiredFormat
from ml_connector.settlement.journal_builder import LinesReport, build_journals
from ml_connector.settlement.mapping import TAX_CATEGORIES, load_mapping
from ml_connector.settlement.reader import open_report
from ml_connector.sources.amazon.regions import MARKETPLACES

from .settlement_helpers import LOCAL_SAMPLES, line, sample_files, sample_ids, settlement_for, v2_bytes

MAPPING = load_mapping()
VOCABULARY = LOCAL_SAMPLES / "vocabulary.tsv"
TAX_ACCOUNTS = {"1310", "1320", "1330", "2200"}
LOCALES = ["en_US", "en_CA", "en_GB", "de_DE", "fr_FR", "ja_JP", "iso"]
LOCALE_CURRENCY = {"en_US": "USD", "en_CA": "CAD", "en_GB": "GBP", "de_DE": "EUR", "fr_FR": "EUR",
                   "ja_JP": "JPY", "iso": "USD"}  # fmt: skip


def vocabulary() -> list[tuple[str, str, str, str]]:
    rows = []
    for text in VOCABULARY.read_text("utf-8").splitlines():
        if text.strip() and not text.startswith("#"):
            tt, at, ad, category = text.split("\t")
            rows.append((tt, at, ad, category))
    return rows


TAXLIKE = re.compile(r"tax|(?<![a-z])vat(?![a-z])|vat-|gst\b|tcs-|194-?o")


def _looks_like_tax(key: tuple[str, str, str]) -> bool:
    """Any tax by its name (SalesTaxCollectionFee is Amazon's fee for collecting it, not a tax)."""
    words = " ".join(key).lower()
    return bool(TAXLIKE.search(words)) and "taxcollectionfee" not in words


def test_the_vocabulary_list_is_mapped_key_by_key() -> None:
    rows = vocabulary()
    assert len(rows) == len({r[:3] for r in rows}) >= 200  # distinct keys
    wrong = []
    for tt, at, ad, category in rows:
        res = MAPPING.resolve((tt, at, ad.strip()), "Amazon.com")
        if res is None or res.category != category:
            wrong.append(((tt, at, ad), category, res and (res.account, res.category)))
    assert wrong == []


def test_every_tax_in_the_vocabulary_is_on_a_tax_account() -> None:
    for tt, at, ad, _category in vocabulary():
        res = MAPPING.resolve((tt, at, ad.strip()), "Amazon.co.uk")
        assert res is not None
        if _looks_like_tax((tt, at, ad)):
            assert res.category in TAX_CATEGORIES and res.account in TAX_ACCOUNTS, (tt, at, ad, res)


@pytest.mark.parametrize(
    ("key", "account", "category"),
    [
        (("Order", "ItemFees", "MarketplaceFacilitatorTax-Principal"), "2200", "marketplace_tax"),
        (("Order", "ItemFees", "MarketplaceFacilitatorVAT-Principal"), "2200", "marketplace_tax"),
        (("Order", "Promotion", "TaxDiscount"), "2200", "sales_tax"),
        (("Chargeback Refund", "ItemPrice", "Tax"), "2200", "sales_tax"),
        (("Order", "ItemWithheldTax", "MarketplaceFacilitatorTax-Shipping"), "2200", "marketplace_tax"),
        (("ServiceFee", "OtherFees", "TaxAmount"), "1310", "fee_tax"),
        (("AmazonFees", "Premium Services Fee", "Tax on fee"), "1310", "fee_tax"),
        (("Order", "ItemWithheldTax", "TCS-IGST"), "1320", "tcs_credit"),
        (("Order", "ItemWithheldTax", "TDS - Section 194-O"), "1330", "income_tax_withheld"),
        (("other-transaction", "other-transaction", "Income Tax Charged"), "1330", "income_tax_withheld"),
        (("other-transaction", "other-transaction", "StorageRenewalBilling"), "5120", "storage"),
        (("other-transaction", "other-transaction", "FBA Long-Term Storage Fee"), "5120", "storage"),
        (("FBA Long Term Storage Fee", "other-transaction", "FBA Long Term Storage Fee"), "5120", "storage"),
        (("Payable to Amazon", "other-transaction", "Payable to Amazon"), "1280", "carried_balance"),
        (("Successful charge", "other-transaction", "Successful charge"), "1280", "card_charges"),
        (("Micro Deposit", "other-transaction", "Micro Deposit"), "1280", "micro_deposit"),
    ],
)
def test_the_rules_an_accountant_checks_first(key: tuple[str, str, str], account: str, category: str) -> None:
    res = MAPPING.resolve(key, "Amazon.de")
    assert res is not None and (res.account, res.category) == (account, category)


def test_tax_outranks_a_marketplace_specific_category_wildcard() -> None:
    from ml_connector.settlement.mapping import parse_mapping

    rule = lambda tt, at, ad, acc, cat, **kw: {"transaction_type": tt, "amount_type": at,  # noqa: E731
                                              "amount_description": ad, "account": acc, "category": cat, **kw}  # fmt: skip
    m = parse_mapping({
        "accounts": {"bank": "1", "clearing": "2", "receivable": "3"},
        "rule": [rule("*", "ItemFees", "*", "5100", "selling_fees", marketplace="Amazon.in"),
                 rule("*", "*", "MarketplaceFacilitator*", "2200", "marketplace_tax")],
    })  # fmt: skip
    assert (
        m.resolve(("Order", "ItemFees", "MarketplaceFacilitatorTax-Principal"), "Amazon.in").account == "2200"
    )
    assert m.resolve(("Order", "ItemFees", "Commission"), "Amazon.in").account == "5100"


@pytest.mark.parametrize("key", [("ServiceFee", "OtherFees", "TaxAmount"),
                                 ("AmazonFees", "Premium Services Fee", "Tax on fee"),
                                 ("FBAFees", "FBA Inventory Storage Fee", "Tax on fee")])  # fmt: skip
def test_fee_tax_as_expense_goes_with_its_fee(key: tuple[str, str, str]) -> None:
    expense = MAPPING.with_fee_tax("expense")
    fee = {"ServiceFee": "5130", "AmazonFees": "5100", "FBAFees": "5120"}[key[0]]
    res = expense.resolve(key, "Amazon.ca")
    assert res is not None and res.account == fee and res.category not in TAX_CATEGORIES
    # the sales tax and the facilitator tax are not fee tax: they stay where they are
    assert expense.resolve(("Order", "ItemPrice", "Tax"), "").account == "2200"


@pytest.mark.parametrize("marketplace", sorted(m.name for m in MARKETPLACES.values()))
def test_every_amazon_marketplace_has_a_division_whatever_its_case(marketplace: str) -> None:
    country = next(m.country_code for m in MARKETPLACES.values() if m.name == marketplace)
    expected = "UK" if country == "GB" else country
    for spelling in (marketplace, marketplace.lower(), marketplace.upper()):
        assert dict(MAPPING.special("bank", spelling).dimensions)["division"] == expected


@pytest.mark.parametrize("path", sample_files(), ids=sample_ids())
def test_every_real_sample_is_mapped_with_every_tax_on_a_tax_account(path: Path) -> None:
    report = open_report(path)
    for ln in report.lines():
        res = MAPPING.resolve(ln.key, ln.marketplace_name or "")
        assert res is not None, ln.key
        if _looks_like_tax(ln.key):
            assert res.account in TAX_ACCOUNTS, (ln.key, res)


def _booking_lines(currency: str, market: str) -> list:
    lines = [
        line("Order", "ItemPrice", "Principal", "100.00", currency, market=market, order_id="1"),
        line("Order", "ItemPrice", "Tax", "19.00", currency, market=market, order_id="1"),
        line("Order", "ItemFees", "MarketplaceFacilitatorVAT-Principal", "-19.00", currency, market=market, order_id="1"),
        line("Order", "ItemWithheldTax", "MarketplaceFacilitatorTax-Shipping", "-1.00", currency, market=market, order_id="1"),
        line("Order", "ItemPrice", "ShippingTax", "1.00", currency, market=market, order_id="1"),
        line("Order", "Promotion", "Principal", "-10.00", currency, market=market, order_id="1"),
        line("Order", "Promotion", "TaxDiscount", "-1.90", currency, market=market, order_id="1"),
        line("Order", "ItemFees", "Commission", "-15.00", currency, market=market, order_id="1"),
        line("AmazonFees", "Premium Services Fee", "Base fee", "-20.00", currency, market=market),
        line("AmazonFees", "Premium Services Fee", "Tax on fee", "-4.00", currency, market=market),
        line("other-transaction", "other-transaction", "StorageRenewalBilling", "-3.00", currency, market=None),
    ]  # fmt: skip
    if currency == "JPY":
        lines = [ln.__class__(**{**{f: getattr(ln, f) for f in ln.__slots__},
                                 "amount": ln.amount.__class__(ln.amount.amount.quantize(Decimal(1)), "JPY")})
                 for ln in lines]  # fmt: skip
    return lines


@pytest.mark.parametrize("locale", LOCALES)
def test_the_booking_rules_hold_on_v2_files_in_every_locale(locale: str) -> None:
    currency = LOCALE_CURRENCY[locale]
    market = {"USD": "Amazon.com", "CAD": "Amazon.ca", "GBP": "Amazon.co.uk", "EUR": "Amazon.de",
              "JPY": "Amazon.co.jp"}[currency]  # fmt: skip
    lines = _booking_lines(currency, market)
    settlement = settlement_for(lines, currency=currency)
    result = build_journals(open_report(v2_bytes(settlement, lines, locale=locale)), MAPPING)
    assert not result.quarantined, result.reason
    (journal,) = result.journals
    by_account = {ln.account: ln for ln in journal.lines}
    # VAT collected 19 + 1, withheld by Amazon 19 + 1 (under ItemFees and ItemWithheldTax), less the
    # promotion's tax 1.90: the tax account carries exactly the promotion's tax, never a fee account
    assert by_account["2200"].net.amount == Decimal("1.90").quantize(by_account["2200"].net.amount)
    assert by_account["4050"].net.amount == Decimal(10)  # the promotion without its tax
    assert by_account["1310"].debit.amount == Decimal(4)  # tax on Amazon's fee: input tax
    assert by_account["5100"].debit.amount == Decimal(35)  # commission + premium services fee
    assert by_account["5120"].debit.amount == Decimal(3)
    division = "UK" if currency == "GBP" else market.rsplit(".", 1)[-1].upper().replace("COM", "US")
    assert {ln.dimension_map["division"] for ln in journal.lines} == {division}


@pytest.mark.parametrize("locale", LOCALES)
def test_a_negative_payout_in_every_locale_reaches_no_bank(locale: str) -> None:
    currency = LOCALE_CURRENCY[locale]
    lines = [line("other-transaction", "other-transaction", "Subscription Fee", "-39.00", currency),
             line("Payable to Amazon", "other-transaction", "Payable to Amazon", "-100.00", currency),
             line("Successful charge", "other-transaction", "Successful charge", "100.00", currency)]  # fmt: skip
    settlement = settlement_for(lines, currency=currency)
    result = build_journals(open_report(v2_bytes(settlement, lines, locale=locale)), MAPPING)
    (journal,) = result.journals
    assert "1020" not in {ln.account for ln in journal.lines}
    assert [(ln.account, ln.credit.amount) for ln in journal.lines if ln.account == "1280"] == [("1280", 39)]


XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<AmazonEnvelope><Message><SettlementReport><SettlementData>'
    b'<AmazonSettlementID>1</AmazonSettlementID><TotalAmount currency="EUR">1.00</TotalAmount>'
    b"</SettlementData></SettlementReport></Message></AmazonEnvelope>\n"
)


@pytest.mark.parametrize("data", [XML, b"\xef\xbb\xbf" + XML, gzip.compress(XML), XML.split(b"\n", 1)[1]])
def test_an_xml_settlement_says_it_was_retired_and_what_to_download(data: bytes) -> None:
    with pytest.raises(RetiredFormat) as caught:
        open_report(data)
    assert str(caught.value) == (
        "XML settlement reports were retired by Amazon on 2026-11-11: download the flat file V2 "
        "(Reports → Payments → All statements → Download Flat File V2)"
    )
    assert caught.value.reason == "retired_format"


def test_v1_files_from_archives_still_read() -> None:
    assert open_report(LOCAL_SAMPLES / "settlement_v1_23874397121.txt").format == "v1"


def test_a_zero_settlement_has_no_bank_line() -> None:
    lines = [
        line("Order", "ItemPrice", "Principal", "10.00"),
        line("Order", "ItemFees", "Commission", "-10.00"),
    ]
    result = build_journals(LinesReport(settlement_for(lines), lines), MAPPING)
    assert "1020" not in {ln.account for j in result.journals for ln in j.lines}
    assert datetime(2026, 1, 1, tzinfo=UTC)  # keeps the import honest for the helpers above


@pytest.mark.parametrize("marketplace_id", sorted(MARKETPLACES))
def test_every_marketplace_books_under_its_division_from_a_v2_file(marketplace_id: str) -> None:
    market = MARKETPLACES[marketplace_id]
    lines = [line("Order", "ItemPrice", "Principal", "100", market.currency, market=market.name.lower()),
             line("Order", "ItemFees", "Commission", "-15", market.currency, market=market.name.lower())]  # fmt: skip
    settlement = settlement_for(lines, currency=market.currency)
    result = build_journals(open_report(v2_bytes(settlement, lines, locale="iso")), MAPPING)
    assert not result.quarantined, result.reason
    expected = "UK" if market.country_code == "GB" else market.country_code
    assert {ln.dimension_map["division"] for j in result.journals for ln in j.lines} == {expected}


def test_the_api_path_asks_only_for_the_v2_flat_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from ml_connector.sources.amazon import LwaCredentials, SpApiClient

    client = SpApiClient(
        LwaCredentials("amzn1.application-oa2-client.x", "not-a-secret", "Atzr|not-a-token"),
        seller_id="A3SELLER",
        base_url="http://127.0.0.1:9",
        lwa_url="http://127.0.0.1:9/auth/o2/token",
    )
    seen: list[dict] = []
    from ml_connector.sources.amazon.api import common

    monkeypatch.setattr(
        common,
        "get_json",
        lambda _client, _op, _path, params=None, **_: seen.append(dict(params or {})) or {},
    )
    try:
        assert list(client.list_settlement_reports(datetime(2026, 11, 1, tzinfo=UTC))) == []
    finally:
        client.close()
    assert seen[0]["reportTypes"] == ["GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"]


@pytest.mark.parametrize("locale", LOCALES)
def test_the_real_negative_pair_rewritten_as_v2_in_every_locale_books_the_same(locale: str) -> None:
    from ml_connector.settlement.balance import amazon_balance

    closing = []
    for name in ("settlement_v1_23874396421.txt", "settlement_v1_23874397121.txt"):
        original = open_report(LOCAL_SAMPLES / name)
        lines = list(original.lines())
        rewritten = open_report(v2_bytes(original.settlement, lines, locale=locale))
        assert rewritten.format == "v2"
        result = build_journals(rewritten, MAPPING)
        assert not result.quarantined, result.reason
        accounts = {ln.account: ln for j in result.journals for ln in j.lines}
        assert "1020" not in accounts  # no money reached the bank
        if "1310" in accounts:
            assert accounts["1310"].debit.as_string() == "0.14"  # GST/HST on the ads: input tax
        closing.append(amazon_balance(result, MAPPING).closing.as_string())
    assert closing == ["-321.69", "-62.31"]
