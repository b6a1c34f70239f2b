"""Reads a settlement report, V2 (amount-type/amount-description/amount) or V1 (type/amount pairs).

Columns are found by header name, never by position. The file is streamed: ``open_report`` reads the
header, the summary row and a bounded look-ahead window (to learn the file's number and date
conventions); ``lines()`` then yields one line at a time, so memory does not grow with the rows.
A V1 row holds several amounts; each becomes one line keyed the V2 way (SP-API.md section 12).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO, Literal

from ml_connector.model.money import Money, currency_exponent, parse_currency
from ml_connector.model.settlement import Settlement, SettlementLine
from ml_connector.settlement.dates import DMY, MDY, DateParser
from ml_connector.settlement.errors import (
    XML_RETIRED,
    BadValue,
    NotASettlementReport,
    RetiredFormat,
    TruncatedReport,
)
from ml_connector.settlement.numbers import COMMA, DOT, AmountParser, shown
from ml_connector.settlement.source import LineSource, Opener, Source, opener_for, truncation_errors
from ml_connector.settlement.sums import LineSums

V2_REPORT_TYPE = "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"
V1_REPORT_TYPE = "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE"
_WHOLE = re.compile(r"-?[0-9]{1,9}")  # a quantity as Amazon writes it (never a billion units)
LOOKAHEAD_ROWS = 2000  # rows read ahead to learn the file's conventions (bounded memory)

SUMMARY_COLUMNS = (
    "settlement-id",
    "settlement-start-date",
    "settlement-end-date",
    "total-amount",
    "currency",
)
V2_REQUIRED = (*SUMMARY_COLUMNS, "transaction-type", "amount-type", "amount-description", "amount")
V1_REQUIRED = (*SUMMARY_COLUMNS, "transaction-type")

# V1 type/amount column pairs -> the V2 amount-type they become. A None type column means the
# amount-description is the fixed text, or the transaction-type when that is None too.
V1_AMOUNTS: tuple[tuple[str | None, str, str, str | None], ...] = (
    ("price-type", "price-amount", "ItemPrice", None),
    ("item-related-fee-type", "item-related-fee-amount", "ItemFees", None),
    ("promotion-type", "promotion-amount", "Promotion", None),
    ("shipment-fee-type", "shipment-fee-amount", "ShipmentFees", None),
    ("order-fee-type", "order-fee-amount", "OrderFees", None),
    ("direct-payment-type", "direct-payment-amount", "DirectPayment", None),
    ("other-fee-reason-description", "other-fee-amount", "OtherFees", "OtherFee"),
    (None, "misc-fee-amount", "MiscFee", "MiscFee"),
    (None, "other-amount", "other-transaction", None),
)


def _fast_chars(convention: str | None, exponent: int = 2) -> str:
    """An amount made only of these characters is parsed directly (no grouping to remove); in a
    currency without decimals a separator can only group, so such an amount goes the general way."""
    if convention is None:
        return ""
    return "0123456789-" if exponent == 0 else "0123456789.-" if convention is DOT else "0123456789,-"


# A record is the hot-path view of a line, a plain tuple:
# (transaction_type, amount_type, amount_description, amount, posted_date, marketplace_name,
#  currency cell ("" when absent), line number, the row's cells)
Record = tuple[str, str, str, Decimal, date | None, str, str, int, list[str]]


def open_report(source: Source) -> SettlementReport:
    """Open a settlement report (path, bytes or binary stream; gzip or plain) and read its summary.

    Raises NotASettlementReport, TruncatedReport or BadValue (all QuarantineError) when the file
    cannot be a settlement report; errors in later rows surface while iterating ``lines()``.
    """
    stream, reopen = opener_for(source)
    try:
        return SettlementReport(stream, reopen)
    except BaseException:
        if reopen is not None:
            stream.close()
        raise


class SettlementReport:
    """One settlement report: its summary (``settlement``), format, and a stream of its lines."""

    def __init__(self, stream: BinaryIO, reopen: Opener | None) -> None:
        self._stream = stream
        self._reopen = reopen
        self._consumed = False
        self._src = LineSource(stream)
        rows = self._src.rows()
        header_line, header = _first(rows, "the file is empty")
        self.columns = tuple(cell.strip().lower() for cell in header)
        while self.columns and not self.columns[-1]:
            self.columns = self.columns[:-1]  # trailing tabs after the header
        self._src.width = len(self.columns)
        self._col = {name: i for i, name in reversed(list(enumerate(self.columns)))}
        self.format: Literal["v2", "v1"] = self._detect_format(header)
        self.report_type = V2_REPORT_TYPE if self.format == "v2" else V1_REPORT_TYPE
        summary_line, summary = _first(
            rows, "the file ends after its header: the summary row and every line are missing", truncated=True
        )
        self._lookahead = list(itertools.islice(rows, LOOKAHEAD_ROWS))
        self.settlement = self._read_summary(summary_line, summary)

    # -- public ---------------------------------------------------------------------------------
    @property
    def ends_with_line_break(self) -> bool:
        """False when the file ended mid-line (known once the lines were read): maybe truncated."""
        return self._src.ends_with_line_break

    def close(self) -> None:
        """Close the file this report opened (a caller's stream is left to the caller)."""
        if self._reopen is not None:
            self._stream.close()

    def __enter__(self) -> SettlementReport:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def lines(self) -> Iterator[SettlementLine]:
        """Every money line of the report, in file order, one at a time."""
        currency = self.settlement.currency
        col = self._col
        get = _getter(col)
        i_order, i_adj, i_sku, i_qty = (
            get("order-id"),
            get("adjustment-id"),
            get("sku"),
            get("quantity-purchased"),
        )
        i_ful, i_ship, i_mo, i_item = (
            get("fulfillment-id"),
            get("shipment-id"),
            get("merchant-order-id"),
            get("order-item-code"),
        )
        for tt, at, ad, amount, posted, market, cur, line, cells in self.records():
            quantity = cells[i_qty].strip() if i_qty >= 0 else ""
            if quantity and not _WHOLE.fullmatch(quantity):
                raise BadValue(f"line {line}: quantity-purchased {shown(quantity)} is not a whole number")
            yield SettlementLine(
                transaction_type=tt.strip(),
                amount_type=at.strip(),
                amount_description=ad.strip(),
                amount=Money(amount, cur.strip().upper() or currency),  # the code is checked by records()
                quantity=int(quantity) if quantity else None,
                posted_date=posted,
                order_id=_cell(cells, i_order),
                adjustment_id=_cell(cells, i_adj),
                sku=_cell(cells, i_sku),
                marketplace_name=market.strip() or None,
                fulfillment_id=_cell(cells, i_ful),
                shipment_id=_cell(cells, i_ship),
                merchant_order_id=_cell(cells, i_mo),
                order_item_code=_cell(cells, i_item),
                line_number=line,
            )

    def records(self) -> Iterator[Record]:
        """The lines as plain tuples (see ``Record``): the journal builder's fast path."""
        rows = self._detail_rows()
        return self._v1_records(rows) if self.format == "v1" else self._v2_records(rows)

    def accumulate(self, acc: LineSums) -> None:
        """Sum every line into ``acc``: the same as feeding it ``records()``, only faster for V2."""
        if self.format == "v1" or self._consumed:
            acc.add_records(self.records())
            return
        self._consumed = True
        acc.add_records(self._v2_records(self._lookahead_once()))
        self._v2_accumulate(self._src, acc)

    # -- reading rows ----------------------------------------------------------------------------
    def _detail_rows(self) -> Iterator[tuple[int, list[str]]]:
        if not self._consumed:
            self._consumed = True
            return itertools.chain(self._lookahead_once(), self._src.rows())
        return self._reopened().rows()

    def _reopened(self) -> LineSource:
        if self._reopen is None:
            raise RuntimeError("this report was opened from a stream, which can be read only once")
        self._stream.close()
        self._stream = self._reopen()
        src = self._src = LineSource(self._stream)
        src.width = len(self.columns)
        rows = src.rows()
        next(rows), next(rows)  # header and summary, already read
        return src

    def _lookahead_once(self) -> Iterator[tuple[int, list[str]]]:
        buffered, self._lookahead = self._lookahead, []
        yield from buffered

    def _v2_accumulate(self, src: LineSource, acc: LineSums) -> None:
        """The hot loop: reads text lines and sums them straight into ``acc``. Any unusual line
        (blank, short, non-ASCII, an amount that is not plain, a currency cell) takes the general
        path, ``_v2_record`` + ``LineSums.add``, so both paths give the same sums."""
        col = self._col
        get = _getter(col)
        i_tt, i_at, i_ad, i_amount = (
            col["transaction-type"],
            col["amount-type"],
            col["amount-description"],
            col["amount"],
        )
        i_posted = get("posted-date") if get("posted-date") >= 0 else get("posted-date-time")
        i_market, i_cur, i_sid = get("marketplace-name"), col["currency"], col["settlement-id"]
        # A missing column reads the currency cell instead, which is empty on every fast-path row.
        i_posted = i_cur if i_posted < 0 else i_posted
        i_market = i_cur if i_market < 0 else i_market
        width, sid = len(self.columns), self.settlement.settlement_id
        amounts, dates = self._amounts, self._dates
        # Taken here only in the currency's own form (-?digits, separator, its decimals; at most 15
        # characters, so within the parser's bounds); any other form goes to the general path. With
        # only digits, "-" and the separator, and Decimal accepting it, "a digit before the separator
        # at the currency's place" is that form: ".5", "-.50", "5." and "1.5" all fail it.
        exponent = amounts.exponent
        point = -exponent - 1
        plain, comma = _fast_chars(amounts.convention, exponent), amounts.convention is COMMA
        sep = "," if comma else "."
        date_cache, parse_date = dates.cache, dates.parse_date
        missing: Any = object()  # a sentinel: mypy cannot narrow ``is missing`` on a plain object
        general, add = self._v2_record, acc.add
        sums = acc.sums
        sums_get = sums.get
        n = first = src.line_no
        # The line break stays on the last cell unless a column summed here is the last one: the
        # others are stripped where they are used, and this loop is the whole cost of a large file.
        strip_end = width - 1 in (i_amount, i_tt, i_at, i_ad, i_market, i_posted, i_cur, i_sid)
        raw = "\n"
        with truncation_errors(src):
            try:
                for n, raw in enumerate(src.text, first + 1):  # noqa: B007 - n is read after the loop
                    c = (raw.rstrip("\r\n") if strip_end else raw).split("\t")
                    text = c[i_amount] if len(c) == width else ""
                    if (
                        not (text and plain and raw.isascii() and c[i_sid] == sid)
                        or text.strip(plain)
                        or c[i_cur]
                    ):
                        src.line_no = n
                        cells = src.cells(raw)
                        found = general(n, cells) if cells is not None else None
                        if found is not None:
                            add(*found[:8])
                            plain = _fast_chars(amounts.convention, exponent)
                            comma = amounts.convention is COMMA
                            sep = "," if comma else "."
                        continue
                    try:
                        if len(text) > 15 or (exponent and (text[point] != sep or text[point - 1] <= ".")):
                            raise InvalidOperation  # not the plain form: the general path decides
                        amount = Decimal(text.replace(",", ".", 1) if comma else text)
                    except (InvalidOperation, IndexError):
                        src.line_no = n
                        found = general(n, c)
                        if found is not None:
                            add(*found[:8])
                        continue
                    posted = date_cache.get(c[i_posted], missing)
                    if posted is missing:
                        posted = parse_date(c[i_posted], n)
                    key = (c[i_tt], c[i_at], c[i_ad], c[i_market], posted)
                    entry = sums_get(key)
                    if entry is None:
                        sums[key] = [amount, 1, n]
                    else:
                        entry[0] += amount
                        entry[1] += 1
            finally:
                src.line_no = n  # also for the message of a gzip stream that ends early
        if n > first:
            src.ends_with_line_break = raw.endswith(("\n", "\r"))

    def _v2_records(self, rows: Iterator[tuple[int, list[str]]]) -> Iterator[Record]:
        record = self._v2_record
        for line, cells in rows:
            found = record(line, cells)
            if found is not None:
                yield found

    def _v2_record(self, line: int, c: list[str]) -> Record | None:
        """The general path for one V2 row (any locale, any oddity); None for a row without money."""
        col = self._col
        text = c[col["amount"]]
        if not text or text.isspace():
            return None  # a row without money (none in V2 files, but harmless)
        i_sid = col["settlement-id"]
        if c[i_sid] != self.settlement.settlement_id:
            _check_settlement_id(c[i_sid], self.settlement.settlement_id, line)
        i_posted = col.get("posted-date", col.get("posted-date-time", -1))
        i_market = col.get("marketplace-name", -1)
        if c[col["currency"]]:
            _check_currency(c[col["currency"]], line)
        return (
            c[col["transaction-type"]],
            c[col["amount-type"]],
            c[col["amount-description"]],
            self._amounts.parse(text, line),
            self._dates.parse_date(c[i_posted], line) if i_posted >= 0 else None,
            c[i_market] if i_market >= 0 else "",
            c[col["currency"]],
            line,
            c,
        )

    def _v1_records(self, rows: Iterator[tuple[int, list[str]]]) -> Iterator[Record]:
        col = self._col
        get = _getter(col)
        pairs = [
            (get(type_col) if type_col else -1, col[amount_col], amount_type, fixed)
            for type_col, amount_col, amount_type, fixed in V1_AMOUNTS
            if amount_col in col
        ]
        i_tt, i_cur, i_sid = col["transaction-type"], col["currency"], col["settlement-id"]
        i_posted, i_market = get("posted-date"), get("marketplace-name")
        i_qty, i_item = get("quantity-purchased"), get("order-item-code")
        sid = self.settlement.settlement_id
        parse_amount, parse_date = self._amounts.parse, self._dates.parse_date
        pending: tuple[str, str] | None = None  # (order-item-code, quantity) of a quantity-only row
        for line, c in rows:
            if c[i_sid] != sid:
                _check_settlement_id(c[i_sid], sid, line)
            if c[i_cur]:
                _check_currency(c[i_cur], line)
            if i_qty >= 0 and c[i_qty].strip() and not any(c[i].strip() for _t, i, _a, _f in pairs):
                # V1 puts an item's quantity on a row of its own: it goes to the item's Principal line.
                pending = (c[i_item] if i_item >= 0 else "", c[i_qty].strip())
                continue
            posted = None
            for i_type, i_amount, amount_type, fixed in pairs:
                text = c[i_amount]
                if not text or text.isspace():
                    continue
                if posted is None and i_posted >= 0:
                    posted = parse_date(c[i_posted], line)
                description = (c[i_type].strip() if i_type >= 0 else "") or fixed or c[i_tt].strip()
                if pending and amount_type == "ItemPrice" and description == "Principal":
                    if pending[0] == (c[i_item] if i_item >= 0 else "") and not c[i_qty].strip():
                        c = [*c]
                        c[i_qty] = pending[1]
                    pending = None
                yield (
                    c[i_tt],
                    amount_type,
                    description,
                    parse_amount(text, line),
                    posted,
                    c[i_market] if i_market >= 0 else "",
                    c[i_cur],
                    line,
                    c,
                )

    # -- header and summary ---------------------------------------------------------------------
    def _detect_format(self, header: list[str]) -> Literal["v2", "v1"]:
        first = "\t".join(header)[:120]
        if first.lstrip("\ufeff \t").startswith("<"):  # <?xml ... / <AmazonEnvelope ...
            raise RetiredFormat(XML_RETIRED)
        if "settlement-id" not in self._col or "total-amount" not in self._col:
            raise NotASettlementReport(
                f"not a settlement report: the first line has no settlement-id and total-amount "
                f"columns (it starts {first!r})"
            )
        is_v2 = "amount-type" in self._col or "amount-description" in self._col
        required = V2_REQUIRED if is_v2 else V1_REQUIRED
        missing = [name for name in required if name not in self._col]
        if not is_v2 and not any(amount in self._col for _t, amount, _a, _f in V1_AMOUNTS):
            missing.append("an amount column (price-amount, other-amount, ...)")
        if missing:
            kind = "V2" if is_v2 else "V1"
            raise NotASettlementReport(
                f"not a {kind} settlement report: missing column(s) {', '.join(missing)}"
            )
        return "v2" if is_v2 else "v1"

    def _read_summary(self, line: int, cells: list[str]) -> Settlement:
        col = self._col
        sid = cells[col["settlement-id"]].strip()
        total_text = cells[col["total-amount"]].strip()
        if not sid or not total_text:
            raise NotASettlementReport(
                f"line {line}: the first row after the header is not a summary row "
                f"(settlement-id {sid!r}, total-amount {total_text!r})"
            )
        try:
            currency = parse_currency(cells[col["currency"]])
        except ValueError as exc:
            raise BadValue(f"line {line}: the summary row's currency: {exc}") from None
        self._amounts = AmountParser(currency_exponent(currency))
        self._dates = DateParser()
        self._learn_conventions(line, total_text)
        marketplace = next(
            (
                c[col["marketplace-name"]].strip()
                for _n, c in self._lookahead
                if "marketplace-name" in col and c[col["marketplace-name"]].strip()
            ),
            None,
        )
        start, end, deposit = self._summary_dates(line, cells)
        return Settlement(
            settlement_id=sid,
            start=start,
            end=end,
            deposit_date=deposit,
            total=Money(self._amounts.parse(total_text, line, "total-amount"), currency),
            marketplace=marketplace,
            report_type=self.report_type,
        )

    def _amount_columns(self) -> list[int]:
        if self.format == "v2":
            return [self._col["amount"]]
        return [self._col[amount] for _t, amount, _a, _f in V1_AMOUNTS if amount in self._col]

    def _date_columns(self) -> list[int]:
        return [self._col[name] for name in ("posted-date", "posted-date-time") if name in self._col]

    def _learn_conventions(self, line: int, total_text: str) -> None:
        """Decide number and day/month conventions from the summary row and the look-ahead window."""
        self._amounts.observe(total_text, line)
        amount_cols, date_cols = self._amount_columns(), self._date_columns()
        for n, c in self._lookahead:
            for i in amount_cols:
                if c[i]:
                    self._amounts.observe(c[i], n)
            for i in date_cols:
                if c[i]:
                    self._dates.observe(c[i], n)

    def _summary_dates(self, line: int, cells: list[str]) -> tuple[datetime, datetime, datetime | None]:
        col = self._col
        texts = [cells[col[name]] if name in col else "" for name in SUMMARY_DATE_COLUMNS]
        for text in texts:
            if text.strip():
                self._dates.observe(text, line)
        if self._dates.order is None:
            self._order_from_period(line, texts)
        start = self._dates.parse_datetime(texts[0], line, "settlement-start-date")
        end = self._dates.parse_datetime(texts[1], line, "settlement-end-date")
        deposit = self._dates.parse_datetime(texts[2], line, "deposit-date") if texts[2].strip() else None
        return start, end, deposit

    def _order_from_period(self, line: int, texts: list[str]) -> None:
        """No date shows its day/month order: keep the one reading under which the settlement period
        makes sense (start <= end within 92 days, deposit after end) and every posted date of the
        look-ahead window falls inside it. Two fitting readings leave the order undecided."""
        posted = [c[i] for _n, c in self._lookahead for i in self._date_columns() if c[i].strip()]
        fitting = []
        for order in (DMY, MDY):
            start, end, deposit = (self._dates.try_order(text, order) for text in texts)
            if start is None or end is None or (texts[2].strip() and deposit is None):
                continue
            if not start <= end <= start + timedelta(days=92):
                continue
            if deposit is not None and deposit < end - timedelta(days=1):
                continue
            low, high = start - timedelta(days=2), max(end, deposit or end) + timedelta(days=3)
            days = (self._dates.try_order(text, order) for text in posted)
            if all(day is not None and low <= day <= high for day in days):
                fitting.append(order)
        if len(fitting) == 1:
            self._dates.order, self._dates.decided_by = fitting[0], (line, "the settlement period")


SUMMARY_DATE_COLUMNS = ("settlement-start-date", "settlement-end-date", "deposit-date")


def _first(
    rows: Iterator[tuple[int, list[str]]], message: str, truncated: bool = False
) -> tuple[int, list[str]]:
    try:
        return next(rows)
    except StopIteration:
        raise (TruncatedReport if truncated else NotASettlementReport)(message) from None


def _getter(col: dict[str, int]):  # noqa: ANN202 - a tiny closure
    return lambda name: col.get(name, -1)


def _cell(cells: list[str], index: int) -> str | None:
    if index < 0:
        return None
    return cells[index].strip() or None


def _check_currency(cell: str, line: int) -> None:
    """A detail row's currency cell, when it has one, is an ISO code (another one is MixedCurrencies)."""
    if cell.strip():
        try:
            parse_currency(cell)
        except ValueError:
            raise BadValue(
                f"line {line}: currency {shown(cell.strip())} is not an ISO 4217 currency code"
            ) from None


def _check_settlement_id(found: str, expected: str, line: int) -> None:
    if found.strip() and found.strip() != expected:
        raise NotASettlementReport(
            f"line {line}: settlement-id {shown(found.strip())} differs from the summary row's {expected!r}; "
            f"a report holds one settlement"
        )
