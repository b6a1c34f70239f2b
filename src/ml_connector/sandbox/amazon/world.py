"""The seller's Amazon history, generated from a seed: orders, the financial events they caused,
and the settlements (payouts) built from exactly those events.

One internal record per fact, several views of it: an order is served by Orders 2026 and Orders
v0; a financial event (a list of settlement-style lines) is served by Finances v0, Finances 2024
and, once its period closes, as rows of a settlement report. So every settlement total equals its
events by construction, and reconciliation has something true to find.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

from ml_connector.model import Money, Settlement, SettlementLine
from ml_connector.sandbox.catalog import MARKETPLACES, Marketplace, Product, products

CENT = Decimal("0.01")
PERIOD = timedelta(days=14)
MARKET_WEIGHTS = {"ATVPDKIKX0DER": 50, "A2EUQ1WTGCTBG2": 15, "A1F83G8C2ARO7P": 20, "A1PA6795UKMFR9": 15}
US_TAX_RATE = Decimal("0.0725")
_FIRST = ("Alex", "Sam", "Robin", "Kim", "Jo", "Chris", "Maria", "Lukas", "Emma", "Noah")
_LAST = ("Smith", "Miller", "Garcia", "Schmidt", "Brown", "Martin", "Lee", "Wilson", "Weber", "Taylor")


@dataclass
class SandboxItem:
    order_item_id: str
    product: Product
    quantity: int
    unit_price: Decimal
    tax: Decimal  # whole line
    shipping: Decimal  # whole line (seller-fulfilled only)

    @property
    def item_price(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass
class SandboxOrder:
    order_id: str
    marketplace: Marketplace
    purchase: datetime
    last_updated: datetime
    status: str  # v0 vocabulary: Pending, Unshipped, Shipped, Canceled
    channel: str  # AFN | MFN
    items: list[SandboxItem]
    buyer_name: str
    buyer_email: str
    street: str
    city: str
    postal_code: str
    seller_order_id: str
    refunded: bool = False
    shipped_at: datetime | None = None
    packages: list[dict] = field(default_factory=list)

    @property
    def currency(self) -> str:
        return self.marketplace.currency

    @property
    def total(self) -> Decimal:
        return sum((i.item_price + i.tax + i.shipping for i in self.items), Decimal(0))


@dataclass
class FinanceEvent:
    """One Finances event: shipment, refund, service_fee, ads or reserve."""

    event_id: str
    kind: str
    marketplace: Marketplace
    posted: datetime
    lines: list[SettlementLine]
    order: SandboxOrder | None = None
    # A deferred sale (Amazon holds it back: DD7 = delivery date + 7 days, B2B = invoiced order):
    # earned at ``earned``, released (and settled) at ``posted``; ``released`` False while Amazon
    # still holds it (then it is in no settlement and ``posted`` is the maturity date).
    deferral: str | None = None
    earned: datetime | None = None
    released: bool = True

    @property
    def total(self) -> Decimal:
        return sum((line.amount.amount for line in self.lines), Decimal(0))

    @property
    def deferred_id(self) -> str:
        """The id of the deferred transaction (the release keeps the event's own id)."""
        return f"DEF-{self.event_id}"


@dataclass
class SandboxSettlement:
    settlement_id: str
    group_id: str
    marketplace: Marketplace
    start: datetime
    end: datetime
    events: list[FinanceEvent]
    closed: bool  # False: the current, still-open group (no settlement report yet)

    @property
    def total(self) -> Decimal:
        return sum((e.total for e in self.events), Decimal(0))

    @property
    def deposit_date(self) -> datetime:
        return self.end + timedelta(days=2)

    def as_settlement(self) -> Settlement:
        return Settlement(
            settlement_id=self.settlement_id,
            start=self.start,
            end=self.end,
            deposit_date=self.deposit_date,
            total=Money(self.total, self.marketplace.currency),
            marketplace=self.marketplace.name,
            report_type="GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2",
        )

    def lines(self) -> list[SettlementLine]:
        return [line for event in self.events for line in event.lines]


@dataclass
class Planted:
    """Differences a test plants in Amazon's figures (none by default)."""

    balances: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (marketplace, type)
    summaries: dict[str, Decimal] = field(default_factory=dict)  # settlement id -> net proceeds delta
    payouts: dict[str, dict] = field(default_factory=dict)  # settlement id -> {"amount": d, "status": s}


@dataclass
class World:
    origin: datetime
    orders: list[SandboxOrder]
    events: list[FinanceEvent]
    settlements: list[SandboxSettlement]  # closed ones first (oldest first), then open groups

    def order(self, order_id: str) -> SandboxOrder | None:
        return self._by_id.get(order_id)

    def __post_init__(self) -> None:
        self._by_id = {o.order_id: o for o in self.orders}

    def add_order(self, order: SandboxOrder) -> None:
        self.orders.append(order)
        self._by_id[order.order_id] = order


def _money(amount: Decimal, market: Marketplace) -> Money:
    return Money(amount.quantize(CENT), market.currency)


def _line(
    transaction_type: str,
    amount_type: str,
    description: str,
    amount: Decimal,
    market: Marketplace,
    posted: datetime,
    order: SandboxOrder | None = None,
    item: SandboxItem | None = None,
    adjustment_id: str | None = None,
    quantity: int | None = None,
) -> SettlementLine:
    return SettlementLine(
        transaction_type=transaction_type,
        amount_type=amount_type,
        amount_description=description,
        amount=_money(amount, market),
        posted_date=posted,
        order_id=order.order_id if order else None,
        adjustment_id=adjustment_id,
        sku=item.product.sku if item else None,
        quantity=quantity,
        marketplace_name=market.name if order else None,
        fulfillment_id=order.channel if order else None,
        shipment_id=f"S{order.order_id[-7:]}" if order and not adjustment_id else None,
        merchant_order_id=order.seller_order_id if order else None,
        order_item_code=item.order_item_id if item else None,
    )


def _order_id(rng: random.Random) -> str:
    return f"{rng.randint(100, 999)}-{rng.randint(0, 9999999):07d}-{rng.randint(0, 9999999):07d}"


def _commission(item: SandboxItem) -> Decimal:
    return (item.item_price * Decimal("0.15")).quantize(CENT)


def _fba_fee(item: SandboxItem) -> Decimal:
    return (Decimal("3.22") + item.product.weight_kg * Decimal("0.90")).quantize(CENT) * item.quantity


def generate(origin: datetime, *, seed: int = 7, order_count: int = 300, days: int = 60) -> World:
    """The whole history up to ``origin`` (the sandbox clock's start). Fast: a few ms per 100 orders."""
    rng = random.Random(seed)
    catalogue = products(seed)
    market_ids = list(MARKET_WEIGHTS)
    weights = list(MARKET_WEIGHTS.values())
    orders: list[SandboxOrder] = []
    seen: set[str] = set()
    span = days * 86400 - 900
    for index in range(order_count):
        market = MARKETPLACES[rng.choices(market_ids, weights)[0]]
        purchase = origin - timedelta(seconds=days * 86400 - span * (index + rng.random()) / order_count)
        channel = "AFN" if rng.random() < 0.6 else "MFN"
        order_id = _order_id(rng)
        while order_id in seen:
            order_id = _order_id(rng)
        seen.add(order_id)
        items = []
        for position, product in enumerate(rng.sample(catalogue, rng.choice((1, 1, 1, 2, 2, 3)))):
            quantity = rng.choice((1, 1, 1, 2, 3))
            unit = product.price(market.marketplace_id)
            tax = (
                (unit * quantity * US_TAX_RATE).quantize(CENT) if market.country_code == "US" else Decimal(0)
            )
            shipping = Decimal("4.99") if channel == "MFN" and position == 0 else Decimal(0)
            items.append(
                SandboxItem(f"{rng.randint(10**13, 10**14 - 1)}", product, quantity, unit, tax, shipping)
            )
        age = origin - purchase
        if rng.random() < 0.05:
            status = "Canceled"
        elif age < timedelta(hours=2):
            status = "Pending" if rng.random() < 0.3 else "Unshipped"
        elif channel == "MFN" and age < timedelta(days=2):
            status = "Unshipped"
        else:
            status = "Shipped"
        shipped_at = purchase + timedelta(hours=rng.randint(6, 40)) if status == "Shipped" else None
        last_updated = min(
            shipped_at or purchase + timedelta(minutes=rng.randint(1, 30)), origin - timedelta(minutes=3)
        )
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        order = SandboxOrder(
            order_id=order_id,
            marketplace=market,
            purchase=purchase,
            last_updated=max(last_updated, purchase),
            status=status,
            channel=channel,
            items=items,
            buyer_name=f"{first} {last}",
            buyer_email=f"{first.lower()}{index}@marketplace.amazon.example",
            street=f"{rng.randint(1, 999)} Main Street",
            city={"US": "Seattle", "CA": "Toronto", "GB": "London", "DE": "Berlin"}[market.country_code],
            postal_code=f"{rng.randint(10000, 99999)}",
            seller_order_id=f"SO-{index + 1:06d}",
            shipped_at=shipped_at,
        )
        if status == "Shipped" and rng.random() < 0.06 and age > timedelta(days=6):
            order.refunded = True
        orders.append(order)
    events = _order_events(orders, rng, origin)
    _defer(events, origin)
    settlements = _settle(events, rng, origin, days)
    return World(origin=origin, orders=orders, events=events, settlements=settlements)


def _order_events(orders: list[SandboxOrder], rng: random.Random, origin: datetime) -> list[FinanceEvent]:
    events: list[FinanceEvent] = []
    for order in orders:
        if order.shipped_at is None:
            continue
        market = order.marketplace
        posted = order.shipped_at
        lines: list[SettlementLine] = []
        for item in order.items:
            q = item.quantity
            lines.append(
                _line(
                    "Order",
                    "ItemPrice",
                    "Principal",
                    item.item_price,
                    market,
                    posted,
                    order,
                    item,
                    quantity=q,
                )
            )
            if item.shipping:
                lines.append(
                    _line("Order", "ItemPrice", "Shipping", item.shipping, market, posted, order, item)
                )
            if item.tax:
                lines.append(_line("Order", "ItemPrice", "Tax", item.tax, market, posted, order, item))
                lines.append(
                    _line(
                        "Order",
                        "ItemWithheldTax",
                        "MarketplaceFacilitatorTax-Principal",
                        -item.tax,
                        market,
                        posted,
                        order,
                        item,
                    )
                )
            lines.append(
                _line("Order", "ItemFees", "Commission", -_commission(item), market, posted, order, item)
            )
            if order.channel == "AFN":
                lines.append(
                    _line(
                        "Order",
                        "ItemFees",
                        "FBAPerUnitFulfillmentFee",
                        -_fba_fee(item),
                        market,
                        posted,
                        order,
                        item,
                    )
                )
            elif item.shipping:
                lines.append(
                    _line("Order", "ItemFees", "ShippingHB", -Decimal("0.50"), market, posted, order, item)
                )
        events.append(FinanceEvent(f"SHP-{order.order_id}", "shipment", market, posted, lines, order))
        if order.refunded:
            when = min(posted + timedelta(days=rng.randint(3, 12)), origin - timedelta(hours=1))
            adjustment = f"amzn1:crow:{rng.getrandbits(64):016x}"
            item = order.items[0]
            commission = _commission(item)
            refund_fee = min((commission * Decimal("0.20")).quantize(CENT), Decimal("5.00"))
            refund = [
                _line(
                    "Refund",
                    "ItemPrice",
                    "Principal",
                    -item.item_price,
                    market,
                    when,
                    order,
                    item,
                    adjustment,
                ),
                _line("Refund", "ItemFees", "Commission", commission, market, when, order, item, adjustment),
                _line(
                    "Refund",
                    "ItemFees",
                    "RefundCommission",
                    -refund_fee,
                    market,
                    when,
                    order,
                    item,
                    adjustment,
                ),
            ]
            if item.tax:
                refund.append(
                    _line("Refund", "ItemPrice", "Tax", -item.tax, market, when, order, item, adjustment)
                )
                refund.append(
                    _line(
                        "Refund",
                        "ItemWithheldTax",
                        "MarketplaceFacilitatorTax-Principal",
                        item.tax,
                        market,
                        when,
                        order,
                        item,
                        adjustment,
                    )
                )
            events.append(FinanceEvent(f"RFD-{order.order_id}", "refund", market, when, refund, order))
    return events


DD7_DELIVERY = timedelta(days=3)  # shipped to delivered, for the DD+7 maturity
B2B_TERMS = timedelta(days=30)  # an invoiced business order is paid 30 days after shipment


def deferral_of(order: SandboxOrder) -> str | None:
    """Which orders Amazon defers, decided from the order id (so the seeded random stream, and
    with it the rest of the world, stays as it was): a share of seller-fulfilled orders under the
    delivery-date policy (DD7), a few invoiced business orders (B2B)."""
    digest = zlib.crc32(order.order_id.encode())
    if digest % 17 == 0:
        return "B2B"
    if order.channel == "MFN" and digest % 4 == 0:
        return "DD7"
    return None


def _defer(events: list[FinanceEvent], origin: datetime) -> None:
    """Turn the shipment events of deferred orders into deferrals released at maturity: their lines
    then settle in the period of the release, dated on the release (as the settlement shows them)."""
    for event in events:
        if event.kind != "shipment" or event.order is None:
            continue
        reason = deferral_of(event.order)
        if reason is None:
            continue
        maturity = event.posted + (DD7_DELIVERY + timedelta(days=7) if reason == "DD7" else B2B_TERMS)
        event.deferral, event.earned = reason, event.posted
        event.posted = maturity
        event.released = maturity <= origin - timedelta(hours=1)
        event.lines = [replace(line, posted_date=maturity) for line in event.lines]


def _settle(
    events: list[FinanceEvent], rng: random.Random, origin: datetime, days: int
) -> list[SandboxSettlement]:
    """Cut 14-day periods per marketplace, add account-level events, and close the past ones."""
    last_close = origin.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    periods: list[tuple[datetime, datetime]] = [(last_close, origin + timedelta(days=1))]
    while periods[0][0] > origin - timedelta(days=days):
        start = periods[0][0] - PERIOD
        periods.insert(0, (start, start + PERIOD))
    closed_settlements: list[SandboxSettlement] = []
    open_groups: list[SandboxSettlement] = []
    for market_number, market_id in enumerate(MARKET_WEIGHTS):
        market = MARKETPLACES[market_id]
        market_events = sorted(
            (e for e in events if e.marketplace is market and e.released), key=lambda e: e.posted
        )
        reserve_held = Decimal(0)
        owed = Decimal(0)  # what the previous settlement left the seller owing Amazon (negative)
        for period_number, (start, end) in enumerate(periods):
            in_period = [e for e in market_events if start <= e.posted < end]
            closed = end <= last_close
            if not in_period and not closed:
                continue
            number = market_number * 1000 + period_number
            settlement = SandboxSettlement(
                settlement_id=str(24000000000 + number * 7919 + rng.randint(0, 7000)),
                group_id=f"FEG{market.country_code}{number:05d}"
                + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(12)),
                marketplace=market,
                start=start,
                end=end,
                events=list(in_period),
                closed=closed,
            )
            if closed:
                if owed < 0:
                    _carry_negative_balance(settlement, owed)
                reserve_held = _account_events(settlement, rng, reserve_held, period_number, market_number)
                owed = min(settlement.total, Decimal(0))
                closed_settlements.append(settlement)
            else:
                open_groups.append(settlement)
    return closed_settlements + open_groups


def _carry_negative_balance(settlement: SandboxSettlement, owed: Decimal) -> None:
    """After a negative settlement Amazon carries the debt into the next one ("Payable to Amazon")
    and charges the seller's card for it at once ("Successful charge"), as in the real pair
    23874396421 / 23874397121: the two lines cancel, and no money reaches the bank for either."""
    market = settlement.marketplace
    carried_at = settlement.start
    charged_at = settlement.start + timedelta(hours=1, minutes=19)
    lines = [
        _line("Payable to Amazon", "other-transaction", "Payable to Amazon", owed, market, carried_at),
        _line("Successful charge", "other-transaction", "Successful charge", -owed, market, charged_at),
    ]
    # Served as an adjustment (the Finances APIs show no event of their own for a carried balance).
    settlement.events.append(
        FinanceEvent(f"PAY-{settlement.settlement_id}", "reserve", market, charged_at, lines)
    )


def _account_events(
    settlement: SandboxSettlement, rng: random.Random, reserve_held: Decimal, period: int, market_number: int
) -> Decimal:
    """Subscription fee, advertising and the reserve, as events of this period; returns the new reserve."""
    market = settlement.marketplace
    factor = market.price_factor
    sid = settlement.settlement_id
    fee_day = settlement.start + timedelta(days=1, hours=3)
    ads_day = settlement.start + timedelta(days=7, hours=11)
    end_day = settlement.end - timedelta(minutes=5)
    subscription = (Decimal("39.99") * factor).quantize(CENT) if period % 2 == 0 else Decimal(0)
    if subscription:
        settlement.events.append(
            FinanceEvent(
                f"SVC-{sid}",
                "service_fee",
                market,
                fee_day,
                [
                    _line(
                        "ServiceFee", "other-transaction", "Subscription Fee", -subscription, market, fee_day
                    )
                ],
            )
        )
    sales = sum(
        (
            line.amount.amount
            for e in settlement.events
            if e.kind == "shipment"
            for line in e.lines
            if line.amount_description == "Principal"
        ),
        Decimal(0),
    )
    net = settlement.total + reserve_held
    ads = (Decimal(rng.randint(1500, 9000)) / 100 * factor).quantize(CENT)
    negative = (period + market_number) % 5 == 3  # now and then the seller owes Amazon
    if negative:
        ads = max(ads, (net + Decimal(25) * factor).quantize(CENT))
    settlement.events.append(
        FinanceEvent(
            f"ADS-{sid}",
            "ads",
            market,
            ads_day,
            [_line("ServiceFee", "Cost of Advertising", "TransactionTotalAmount", -ads, market, ads_day)],
        )
    )
    new_reserve = Decimal(0) if negative else (sales * Decimal("0.10")).quantize(CENT)
    reserve_lines = []
    if reserve_held:
        reserve_lines.append(
            _line(
                "other-transaction",
                "other-transaction",
                "Previous Reserve Amount Balance",
                reserve_held,
                market,
                end_day,
            )
        )
    if new_reserve:
        reserve_lines.append(
            _line(
                "other-transaction",
                "other-transaction",
                "Current Reserve Amount",
                -new_reserve,
                market,
                end_day,
            )
        )
    if reserve_lines:
        settlement.events.append(FinanceEvent(f"RSV-{sid}", "reserve", market, end_day, reserve_lines))
    return new_reserve
