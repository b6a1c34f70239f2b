"""The account mapping: wildcards, specificity, marketplace overrides, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_connector.errors import ConfigurationError
from ml_connector.settlement.mapping import load_mapping, parse_mapping

BASE = {"accounts": {"bank": "1", "clearing": "2", "receivable": "3"}}


def _mapping(*rules: dict, **extra: object):  # noqa: ANN202
    return parse_mapping({**BASE, "rule": list(rules), **extra})


def _rule(tt: str, at: str, ad: str, account: str, **kw: str) -> dict:
    return {"transaction_type": tt, "amount_type": at, "amount_description": ad, "account": account,
            "category": kw.pop("category", "x"), **kw}  # fmt: skip


def test_most_specific_rule_wins_regardless_of_order() -> None:
    m = _mapping(
        _rule("*", "*", "*", "9000"),
        _rule("Order", "ItemFees", "*", "5100"),
        _rule("Order", "ItemFees", "FBA*", "5110"),
        _rule("*", "ItemFees", "FBAPerUnitFulfillmentFee", "5111"),
    )
    assert m.resolve(("Order", "ItemFees", "Commission")).account == "5100"
    assert m.resolve(("Order", "ItemFees", "FBAWeightBasedFee")).account == "5110"
    assert m.resolve(("Order", "ItemFees", "FBAPerUnitFulfillmentFee")).account == "5111"
    assert m.resolve(("Other", "X", "Y")).account == "9000"


def test_matching_is_case_insensitive_and_wildcards_work() -> None:
    m = _mapping(_rule("order", "Item?rice", "*tax", "2200"))
    assert m.resolve(("Order", "ItemPrice", "ShippingTax")).account == "2200"
    assert m.resolve(("Order", "ItemPrice", "Principal")) is None


def test_marketplace_overrides_account_and_dimensions() -> None:
    m = _mapping(
        _rule("Order", "ItemPrice", "Principal", "4000"),
        _rule("Order", "ItemPrice", "*", "4001", marketplace="Amazon.de"),
        dimensions={"company": "100"},
        marketplaces={"Amazon.de": {"dimensions": {"division": "DE", "company": "200"}}},
    )
    us = m.resolve(("Order", "ItemPrice", "Principal"), "Amazon.com")
    de = m.resolve(("Order", "ItemPrice", "Principal"), "Amazon.de")
    assert (us.account, us.dimensions) == ("4000", (("company", "100"),))
    assert (de.account, de.dimensions) == ("4001", (("company", "200"), ("division", "DE")))
    assert m.special("bank", "Amazon.de").dimensions == (("company", "200"), ("division", "DE"))


def test_default_mapping_covers_the_documented_vocabulary() -> None:
    m = load_mapping()
    keys = [
        ("Order", "ItemPrice", "Principal"), ("Order", "ItemPrice", "Shipping"), ("Order", "ItemPrice", "GiftWrap"),
        ("Order", "ItemPrice", "Tax"), ("Order", "ItemPrice", "GiftWrapTax"),
        ("Order", "ItemWithheldTax", "MarketplaceFacilitatorVAT-Shipping"), ("Order", "Promotion", "Principal"),
        ("Order", "ItemFees", "FixedClosingFee"), ("Order", "ItemFees", "GiftwrapChargeback"),
        ("Refund", "ItemPrice", "Principal"), ("Refund", "ItemFees", "RefundCommission"),
        ("other-transaction", "other-transaction", "Storage Fee"),
        ("other-transaction", "other-transaction", "StorageRenewalBilling"),
        ("other-transaction", "other-transaction", "Subscription Fee"),
        ("other-transaction", "other-transaction", "DisposalComplete"),
        ("other-transaction", "other-transaction", "RemovalComplete"),
        ("other-transaction", "other-transaction", "Previous Reserve Amount Balance"),
        ("other-transaction", "other-transaction", "Current Reserve Amount"),
        ("other-transaction", "other-transaction", "Shipping label purchase"),
        ("other-transaction", "FBA Inventory Reimbursement", "WAREHOUSE_DAMAGE"),
        ("ServiceFee", "Cost of Advertising", "TransactionTotalAmount"),
        ("Chargeback Refund", "ItemPrice", "Principal"), ("CouponRedemptionFee", "CouponRedemptionFee", "x"),
        ("Lightning Deal Fee", "LightningDealFee", "x"), ("Vine Enrollment Fee", "Vine Enrollment Fee", "x"),
    ]  # fmt: skip
    resolved = {key: m.resolve(key, "Amazon.com") for key in keys}
    assert [k for k, r in resolved.items() if r is None] == []
    assert resolved[keys[0]].category == "sales"
    assert (
        resolved[("other-transaction", "other-transaction", "Current Reserve Amount")].category == "reserve"
    )
    assert resolved[("Refund", "ItemPrice", "Principal")].category == "refunds"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"accounts": {"bank": "1"}}, "needs clearing, receivable"),
        ({**BASE, "rule": [{"transaction_type": "a"}]}, "rule #1 needs amount_type"),
        ({**BASE, "rule": [{**_rule("a", "b", "c", "1"), "acount": "x"}]}, "unknown field"),
    ],
)
def test_mistakes_name_the_rule(data: dict, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        parse_mapping(data)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_mapping(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rule]\n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_mapping(bad)
