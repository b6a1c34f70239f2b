"""The canonical model: what flows see, whatever the source or the target."""

from ml_connector.model.journal import Journal, JournalLine
from ml_connector.model.money import CurrencyMismatch, Money, currency_exponent, parse_currency
from ml_connector.model.orders import Address, Order, OrderItem, ShipmentConfirmation, StockLevel
from ml_connector.model.settlement import Settlement, SettlementLine

__all__ = [
    "Address",
    "CurrencyMismatch",
    "Journal",
    "JournalLine",
    "Money",
    "Order",
    "OrderItem",
    "Settlement",
    "SettlementLine",
    "ShipmentConfirmation",
    "StockLevel",
    "currency_exponent",
    "parse_currency",
]
