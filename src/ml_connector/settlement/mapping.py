"""The account mapping: (transaction-type, amount-type, amount-description) -> GL account + dimensions.

A TOML rules file (see default_mapping.toml, shipped with the package). Rules take * and ?
wildcards; the most specific matching rule wins: a tax rule (category in ``tax_categories``) before
any other, so that a category wildcard such as ``ItemFees / *`` can never take a tax line off the
tax accounts; then a marketplace-specific rule; then the most fields without a wildcard, then the
longest literal text, then file order. Resolutions are cached per distinct key, so a million-line
settlement costs a handful of rule searches.

Tax Amazon charges on its own fees (``fee_tax`` rules) goes to a recoverable input-tax account by
default; a seller who cannot recover it (``fee_tax = "expense"``) gets the best non-fee-tax rule
for the same key instead, i.e. the fee's own expense account.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from ml_connector.errors import ConfigurationError
from ml_connector.files import key_name, parse_toml, read_text

KEY_FIELDS = ("transaction_type", "amount_type", "amount_description")
SPECIAL_ACCOUNTS = ("bank", "clearing", "receivable")
# Optional special accounts: the Amazon balance (what Amazon owes the seller, or the seller owes
# Amazon, between payouts) falls back to the clearing account; the realised-FX account is needed
# only when a payout is converted to another currency.
OPTIONAL_ACCOUNTS = ("amazon_balance", "fx")
TAX_CATEGORIES = frozenset({"sales_tax", "marketplace_tax", "fee_tax", "tcs_credit", "income_tax_withheld"})
FEE_TAX_MODES = ("recoverable", "expense")
_RULE_FIELDS = {*KEY_FIELDS, "marketplace", "account", "category", "description", "dimensions"}


@dataclass(frozen=True, slots=True)
class Rule:
    transaction_type: str
    amount_type: str
    amount_description: str
    account: str
    category: str
    description: str = ""
    marketplace: str = "*"
    dimensions: tuple[tuple[str, str], ...] = ()
    index: int = 0  # position in the file: the last tie-breaker, and how errors point at a rule
    _compiled: tuple[re.Pattern[str], ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled = tuple(
            re.compile(fnmatch.translate(p.casefold())) for p in (*self.patterns, self.marketplace)
        )
        object.__setattr__(self, "_compiled", compiled)

    @property
    def patterns(self) -> tuple[str, str, str]:
        return (self.transaction_type, self.amount_type, self.amount_description)

    def matches(self, key: tuple[str, str, str], marketplace: str) -> bool:
        values = (*key, marketplace)
        return all(rx.match(v.casefold()) for rx, v in zip(self._compiled, values, strict=True))

    @property
    def specificity(self) -> tuple[int, int, int, int]:
        exact = sum(1 for p in self.patterns if not _is_pattern(p))
        literal = sum(len(p.replace("*", "").replace("?", "")) for p in self.patterns)
        return (0 if self.marketplace == "*" else 1, exact, literal, -self.index)


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where one (key, marketplace) posts."""

    account: str
    category: str
    description: str
    dimensions: tuple[tuple[str, str], ...]
    rule: Rule | None = None


@dataclass
class AccountMapping:
    rules: list[Rule]
    accounts: dict[str, str]  # bank, clearing, receivable
    descriptions: dict[str, str] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    dimensions: dict[str, str] = field(default_factory=dict)
    marketplace_dimensions: dict[str, dict[str, str]] = field(default_factory=dict)
    receivable_categories: frozenset[str] = frozenset()
    receivable_transaction_types: tuple[str, ...] = ("Order",)
    source: str = "default"
    tax_categories: frozenset[str] = TAX_CATEGORIES
    fee_tax: str = "recoverable"  # or "expense": tax on Amazon's fees stays on the fee's account
    _cache: dict[tuple[tuple[str, str, str], str], Resolution | None] = field(
        default_factory=dict, repr=False
    )

    def resolve(self, key: tuple[str, str, str], marketplace: str = "") -> Resolution | None:
        """The account for a line, or None when no rule maps it."""
        cache_key = (key, marketplace)
        try:
            return self._cache[cache_key]
        except KeyError:
            pass
        candidates = [rule for rule in self.rules if rule.matches(key, marketplace)]
        result = None
        if candidates:
            taxes = self.tax_categories
            rule = max(candidates, key=lambda r: (r.category in taxes, *r.specificity))
            if rule.category == "fee_tax" and self.fee_tax == "expense":
                # The fee's own expense account: the best rule that is no tax rule, if there is one.
                expense = [r for r in candidates if r.category not in taxes]
                rule = max(expense, key=lambda r: r.specificity) if expense else rule
            result = Resolution(
                account=rule.account,
                category=rule.category,
                description=rule.description or self.category_label(rule.category),
                dimensions=self.dimensions_for(marketplace, rule.dimensions),
                rule=rule,
            )
        self._cache[cache_key] = result
        return result

    def with_fee_tax(self, mode: str) -> AccountMapping:
        """The same mapping with tax on Amazon's fees booked ``recoverable`` or as ``expense``."""
        if mode not in FEE_TAX_MODES:
            raise ConfigurationError(f"fee_tax must be one of {', '.join(FEE_TAX_MODES)}, not {mode!r}")
        if mode == self.fee_tax:
            return self
        return replace(self, fee_tax=mode, _cache={})

    def account_of(self, name: str) -> str | None:
        """A special account's number; the Amazon balance falls back to the clearing account."""
        if name == "amazon_balance":
            return self.accounts.get(name) or self.accounts.get("clearing")
        return self.accounts.get(name)

    def is_tax(self, category: str) -> bool:
        return category in self.tax_categories

    def special(self, name: str, marketplace: str = "") -> Resolution:
        """The bank (payout), clearing (carried between periods), receivable (invoice mode), Amazon
        balance (negative payouts and carried balances) or realised-FX account."""
        account = self.account_of(name)
        if not account:
            raise ConfigurationError(f"{self.source}: [accounts] has no {name} account")
        return Resolution(
            account=account,
            category=name,
            description=self.descriptions.get(name) or self.category_label(name),
            dimensions=self.dimensions_for(marketplace, ()),
        )

    def dimensions_for(
        self, marketplace: str, extra: tuple[tuple[str, str], ...]
    ) -> tuple[tuple[str, str], ...]:
        merged = dict(self.dimensions)
        merged.update(self.marketplace_dimensions.get(marketplace.strip().casefold(), {}))
        merged.update(dict(extra))
        return tuple(sorted(merged.items()))

    def category_label(self, category: str) -> str:
        return self.categories.get(category, category.replace("_", " ").capitalize())

    def clears_receivable(self, transaction_type: str, category: str) -> bool:
        """Invoice mode: is this line already in an order invoice, so it clears the receivable?"""
        return category in self.receivable_categories and any(
            fnmatch.fnmatchcase(transaction_type.casefold(), p.casefold())
            for p in self.receivable_transaction_types
        )

    def suggest_rule(self, key: tuple[str, str, str], amount_sign: int) -> str:
        """The TOML rule that would map a key nobody mapped yet, with a best-guess account."""
        category = "other_fees" if amount_sign < 0 else "other_income"
        guess = next((r for r in self.rules if r.category == category), None)
        account = guess.account if guess else "????"
        return "\n".join(
            [
                "[[rule]]",
                *(f"{name} = {_toml_string(value)}" for name, value in zip(KEY_FIELDS, key, strict=True)),
                f'account = "{account}"  # check: the GL account for this line',
                f'category = "{category}"',
            ]
        )


def load_mapping(path: Path | None = None) -> AccountMapping:
    """Load a mapping file; None loads the default mapping shipped with ml-connector."""
    if path is None:
        text = resources.files("ml_connector.settlement").joinpath("default_mapping.toml").read_text("utf-8")
        source = "default"
    else:
        text = read_text(path, "the mapping file")
        source = str(path)
    return parse_mapping(parse_toml(text, source), source)


def parse_mapping(data: dict, source: str = "mapping") -> AccountMapping:
    """Validate a parsed TOML mapping; every mistake names the rule or table it is in."""
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{source}: a mapping is a TOML document of tables")
    accounts = _texts(data, "accounts", source)
    missing = [name for name in SPECIAL_ACCOUNTS if not accounts.get(name)]
    if missing:
        raise ConfigurationError(f"{source}: [accounts] needs {', '.join(missing)}")
    rules = []
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        raise ConfigurationError(f"{source}: 'rule' must be a list of [[rule]] tables")
    for index, raw in enumerate(raw_rules, start=1):
        where = f"{source}: rule #{index}"
        if not isinstance(raw, dict):
            raise ConfigurationError(f"{where} is not a table")
        raw = dict(raw)  # the checked values replace the caller's, in a copy
        for name in (*KEY_FIELDS, "marketplace", "account", "category", "description"):
            if name in raw:
                raw[name] = _text(raw[name], f"{where} field {name}")
        unknown = set(raw) - _RULE_FIELDS
        if unknown:
            names = ", ".join(key_name(k) for k in sorted(unknown))
            raise ConfigurationError(
                f"{where} has unknown field(s) {names}; the fields are {', '.join(sorted(_RULE_FIELDS))}"
            )
        absent = [name for name in (*KEY_FIELDS, "account", "category") if not str(raw.get(name, "")).strip()]
        if absent:
            raise ConfigurationError(f"{where} needs {', '.join(absent)}")
        rules.append(
            Rule(
                transaction_type=str(raw["transaction_type"]).strip(),
                amount_type=str(raw["amount_type"]).strip(),
                amount_description=str(raw["amount_description"]).strip(),
                account=_account(str(raw["account"]).strip(), accounts, where),
                category=str(raw["category"]).strip(),
                description=str(raw.get("description", "")),
                marketplace=str(raw.get("marketplace", "*")).strip() or "*",
                dimensions=tuple(sorted(_texts(raw, "dimensions", where).items())),
                index=index,
            )
        )
    invoice = _table(data, "invoice_mode", source)
    return AccountMapping(
        rules=rules,
        accounts=accounts,
        descriptions=_texts(data, "descriptions", source),
        categories=_texts(data, "categories", source),
        dimensions=_texts(data, "dimensions", source),
        marketplace_dimensions=_marketplace_dimensions(data, source),
        receivable_categories=frozenset(_list(invoice, "receivable_categories", (), source)),
        receivable_transaction_types=_list(invoice, "receivable_transaction_types", ("Order",), source),
        source=source,
        tax_categories=frozenset(
            _list(_table(data, "tax", source), "categories", tuple(sorted(TAX_CATEGORIES)), source, "tax")
        ),
        fee_tax=_fee_tax(_table(data, "tax", source).get("fee_tax", "recoverable"), source),
    )


# -- value checks: a wrong type is a ConfigurationError naming the key and the type it must be -----


def _table(data: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"{where}: {key_name(name)} must be a table ([{key_name(name)}] with key = value lines)"
        )
    return value


def _text(value: object, where: str) -> str:
    """A string value; an integer is taken as its digits (``account = 1020``), anything else refused."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**30:
        return str(value)
    raise ConfigurationError(f"{where} must be a string (in quotes), not {_kind(value)}")


def _texts(data: Mapping[str, Any], name: str, where: str) -> dict[str, str]:
    return {
        str(k): _text(v, f"{where}: [{name}] {key_name(k)}") for k, v in _table(data, name, where).items()
    }


def _list(
    data: Mapping[str, Any], name: str, default: tuple[str, ...], where: str, table: str = "invoice_mode"
) -> tuple[str, ...]:
    value = data.get(name, default)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ConfigurationError(
            f'{where}: [{table}] {name} must be a list of strings, e.g. {name} = ["{default[0] if default else "x"}"], '
            f"not {_kind(value)}"
        )
    return tuple(_text(item, f"{where}: [{table}] {name}") for item in value)


def _marketplace_dimensions(data: Mapping[str, Any], source: str) -> dict[str, dict[str, str]]:
    """``[marketplaces."Amazon.de".dimensions]`` tables: marketplace name -> dimension overrides."""
    markets = _table(data, "marketplaces", source)
    return {  # marketplace names match case-insensitively (amazon.com = Amazon.com)
        str(name).strip().casefold(): _texts(_table(markets, name, f"{source}: [marketplaces]"), "dimensions",
                                             f"{source}: [marketplaces.{key_name(name)}]")
        for name in markets
    }  # fmt: skip


def _kind(value: object) -> str:
    return {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "a table"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _account(text: str, accounts: dict[str, str], where: str) -> str:
    """A rule's account: a number, or ``@name`` for one of the [accounts] (``@amazon_balance``), so
    that moving a special account in [accounts] moves every rule that books to it."""
    if not text.startswith("@"):
        return text
    name = text[1:]
    value = accounts.get(name) or (accounts.get("clearing") if name == "amazon_balance" else None)
    if not value:
        raise ConfigurationError(f"{where}: account {text} names no account in [accounts]")
    return value


def _fee_tax(value: object, source: str) -> str:
    if value not in FEE_TAX_MODES:
        raise ConfigurationError(f"{source}: [tax] fee_tax must be one of {', '.join(FEE_TAX_MODES)}")
    return str(value)


def _is_pattern(text: str) -> bool:
    return "*" in text or "?" in text or "[" in text


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def producible_accounts(mapping: AccountMapping) -> dict[str, set[str]]:
    """Every GL account the mapping can put on a journal -> the dimension sets it may carry
    (``name=value`` strings), for checking the mapping against the ERP's chart before posting."""
    dimension_sets = [mapping.dimensions_for("", ())] + [
        mapping.dimensions_for(name, ()) for name in mapping.marketplace_dimensions
    ]
    found: dict[str, set[str]] = {}
    accounts = [(rule.account, rule.dimensions) for rule in mapping.rules]
    accounts += [(mapping.account_of(name) or "", ()) for name in (*SPECIAL_ACCOUNTS, *OPTIONAL_ACCOUNTS)]
    for account, extra in accounts:
        if not account:
            continue
        bucket = found.setdefault(account, set())
        for dims in dimension_sets:
            merged = dict(dims)
            merged.update(dict(extra))
            bucket.update(f"{k}={v}" for k, v in merged.items())
    return found
