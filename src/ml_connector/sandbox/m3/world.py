"""The M3 tenant the sandbox simulates: customers, items, aliases, balances, the GL interface and
vouchers, batch and confirmed customer orders, deliveries. Seeded from the shared catalogue.

Adds are not idempotent, as in M3: a second CRS610MI.Add or OIS100MI.AddBatchHead makes a second
record; only a key the caller supplies itself (CUNO, GLS840MI KEY1, LINE) is refused as existing.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from ml_connector.clock import Clock
from ml_connector.sandbox.catalog import products
from ml_connector.sandbox.m3 import export

COMPANY = "100"
DIVISION = "AAA"
LOCAL_CURRENCY = "USD"  # the division's local currency (CULOCD)
FACILITY = "A01"
WAREHOUSE = "100"
TEMPLATE_CUSTOMER = "AMZTEMPL"
ORDER_TYPE = "AMZ"
ALIAS_TYPE = 3
ALIAS_QUALIFIER = "AMZS"
ALIAS_LENGTH = 30
GL_INTERFACE = "GLUPLOAD"

# The GLUPLOAD interface as set up in this tenant: the documented public layout (1-based, length).
PARM_LAYOUT = {"record_id": (1, 2), "run": (3, 9), "group": (12, 8), "DIVI": (20, 3)}
PARM_LAYOUT.update({f"AIT{n}": (23 + 10 * (n - 1), 10) for n in range(1, 8)})
PARM_LAYOUT.update({"CUCD": (93, 3), "CUAM": (96, 17), "ACDT": (113, 8), "VTXT": (121, 40)})


class MiFault(Exception):
    """An MI error as M3 reports it."""

    def __init__(
        self, message: str, *, error_type: str = "ServerReturnedNOK", code: str = "", field: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.code = code
        self.field = field


Row = dict[str, str]


@dataclass
class GlBatch:
    key1: str
    interface: str
    description: str
    lines: dict[int, str] = field(default_factory=dict)
    status: str = "open"  # open | errors | controlled | updated
    errors: list[str] = field(default_factory=list)


@dataclass
class BatchOrder:
    orno: str
    head: Row
    address: Row | None = None
    lines: list[Row] = field(default_factory=list)
    final: str = ""
    errors: list[Row] = field(default_factory=list)


def _amount(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


class M3World:
    def __init__(self, clock: Clock, seed: int = 7) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.calls: Counter[str] = Counter()
        self.customers: dict[str, Row] = {
            TEMPLATE_CUSTOMER: {
                "CUNO": TEMPLATE_CUSTOMER,
                "CUNM": "Amazon customer template",
                "CUA1": "Template",
                "STAT": "20",
                "CUCD": "USD",
                "CSCD": "US",
                "DIVI": DIVISION,
                "LNCD": "GB",
                "CUTP": "0",
            }
        }
        self.items: dict[str, Row] = {}
        self.aliases: list[Row] = []
        self.balances: dict[tuple[str, str], dict[str, Decimal]] = {}
        for product in products(seed):
            if product.m3_item is None:
                continue
            self.items[product.m3_item] = {
                "ITNO": product.m3_item,
                "ITDS": product.title[:30],
                "STAT": "20",
                "UNMS": "EA",
                "ITTY": "FG",
            }
            if len(product.sku) <= ALIAS_LENGTH:
                self.aliases.append(
                    {
                        "ALWT": str(ALIAS_TYPE),
                        "ALWQ": ALIAS_QUALIFIER,
                        "POPN": product.sku,
                        "ITNO": product.m3_item,
                    }
                )
            self.balances[(WAREHOUSE, product.m3_item)] = {
                name: Decimal(0) for name in ("STQT", "QUQT", "RJQT", "ALQT", "REQT", "PLQT", "ORQT")
            } | {"STQT": Decimal(product.on_hand)}
        self.interfaces = {GL_INTERFACE}
        self.chart_of_accounts: set[str] | None = None  # None: every well-formed account is valid
        self.blocked_accounts: set[str] = set()
        self.exportmi_allowed = True  # tenants may lock EXPORTMI ("Not allowed")
        self.accounting_identities: dict[int, set[str]] = {}  # FCHACC values of dimensions 2..7
        self.blocked_identities: set[tuple[int, str]] = set()  # FCHACC rows with lock code 1 (dims 2..7)
        self.local_currency = LOCAL_CURRENCY  # CULOCD of the division
        # CCURRA (CRS055): (currency, rate type, from date YYYYMMDD) -> local currency per unit
        self.exchange_rates: dict[tuple[str, int, str], Decimal] = {}
        self.gl_batches: dict[tuple[str, str], GlBatch] = {}
        self.voucher_lines: list[Row] = []
        self.batch_orders: dict[str, BatchOrder] = {}
        self.orders: dict[str, dict] = {}  # final ORNO -> {"head": Row, "lines": [Row]}
        self.deliveries: dict[str, Row] = {}
        self.delivery_lines: list[Row] = []
        self.invoices: list[Row] = []  # customer invoices (OIS350MI), made by invoice()
        self._series: Counter[str] = Counter()
        self.handlers: dict[tuple[str, str], Callable[[Row], list[Row]]] = {
            (name.split("__")[0].upper(), name.split("__")[1]): getattr(self, name)
            for name in dir(self)
            if "__" in name and not name.startswith("__") and name.split("__")[0].isupper()
        }

    def next_number(self, series: str, start: int) -> int:
        self._series[series] += 1
        return start + self._series[series]

    def today(self) -> date:
        return self.clock.now().date()

    # -- sandbox hooks (tests, demo) ----------------------------------------------------------------

    def deliver(
        self, order_no: str, carrier: str = "UPS", tracking: str | None = None, when: datetime | None = None
    ) -> str:
        """Pick, pack and issue every open line of a confirmed order (status 66) on one delivery."""
        with self.lock:
            order = self.orders[order_no]
            when = when or self.clock.now()
            dlix = str(self.next_number("DLIX", 100000000))
            self.deliveries[dlix] = {
                "DLIX": dlix,
                "RIDN": order_no,
                "CUOR": order["head"]["CUOR"],
                "WHLO": order["head"]["WHLO"],
                "FWNO": carrier[:10],
                "ETRN": (tracking or f"1Z{dlix}")[:30],
                "MODL": "EXP",
                "PGRS": "90",
                "PIST": "90",
                "DSDT": when.strftime("%Y%m%d"),
                "DSHM": when.strftime("%H%M"),
            }
            for line in order["lines"]:
                if line["ORST"] >= "66":
                    continue
                quantity = Decimal(line["ORQT"])
                line.update(ORST="66", DLQT=_amount(quantity))
                balance = self.balances.get((line["WHLO"], line["ITNO"]))
                if balance:
                    balance["STQT"] -= quantity
                    balance["ALQT"] -= quantity
                self.delivery_lines.append(
                    {
                        "DLIX": dlix,
                        "RIDN": order_no,
                        "RIDL": line["PONR"],
                        "RIDX": "0",
                        "RORC": "3",
                        "ITNO": line["ITNO"],
                        "TRQT": _amount(quantity),
                        "PGRS": "90",
                    }
                )
            self._order_status(order)
            return dlix

    def invoice(self, order_no: str, when: datetime | None = None) -> str:
        """Invoice every delivered, not yet invoiced line of an order (OIS180/OIS190 in a real M3):
        one customer invoice, lines at status 77, what OIS350MI then lists."""
        with self.lock:
            order = self.orders[order_no]
            when = when or self.clock.now()
            lines = [line for line in order["lines"] if "66" <= line["ORST"] < "77"]
            if not lines:
                raise ValueError(f"order {order_no} has no delivered line to invoice")
            amount = sum((Decimal(line["SAPR"] or "0") * Decimal(line["ORQT"]) for line in lines), Decimal(0))
            number = str(self.next_number("IVNO", 700000))
            self.invoices.append(
                {
                    "ORNO": order_no,
                    "IVNO": number,
                    "YEA4": str(when.year),
                    "IDAT": when.strftime("%Y%m%d"),
                    "CUNO": order["head"]["CUNO"],
                    "PYNO": order["head"]["CUNO"],
                    "IVAV": _amount(amount),
                    "RAFC": _amount(amount),
                    "CUCD": order["head"]["CUCD"],
                    "EXIN": number,
                }
            )
            for line in lines:
                line.update(ORST="77", IVQT=line["ORQT"])
            self._order_status(order)
            return number

    def OIS350MI__LstAllInvByCO(self, f: Row) -> list[Row]:
        return [dict(row) for row in self.invoices if row["ORNO"] == f["ORNO"]]

    def block_item(self, item: str) -> None:
        with self.lock:
            self.items[item]["STAT"] = "90"

    def posted_vouchers(self) -> list[dict]:
        """Vouchers as posted: one entry per voucher with its lines (read-only view)."""
        with self.lock:
            vouchers: dict[tuple[str, str, str], dict] = {}
            for line in self.voucher_lines:
                key = (line["DIVI"], line["YEA4"], line["VONO"])
                voucher = vouchers.setdefault(
                    key, {"DIVI": key[0], "YEA4": key[1], "VONO": key[2], "lines": []}
                )
                voucher["lines"].append(dict(line))
            return list(vouchers.values())

    def posted_orders(self) -> list[dict]:
        with self.lock:
            return [
                {"head": dict(o["head"]), "lines": [dict(line) for line in o["lines"]]}
                for o in self.orders.values()
            ]

    def posted_customers(self) -> list[Row]:
        with self.lock:
            return [dict(c) for c in self.customers.values() if c["CUNO"] != TEMPLATE_CUSTOMER]

    # -- GLS840MI: generic GL interface -------------------------------------------------------------

    def _gl_batch(self, fields: Row) -> GlBatch:
        batch = self.gl_batches.get((fields.get("DIVI") or DIVISION, fields["KEY1"]))
        if batch is None:
            raise MiFault(f"Batch {fields['KEY1']} does not exist", field="KEY1")
        return batch

    def GLS840MI__AddBatchHead(self, f: Row) -> list[Row]:
        key = (f.get("DIVI") or DIVISION, f["KEY1"])
        if key in self.gl_batches:
            raise MiFault("Record already exists", field="KEY1")
        if f["INTN"] not in self.interfaces:
            raise MiFault(f"Interface {f['INTN']} does not exist", field="INTN")
        self.gl_batches[key] = GlBatch(f["KEY1"], f["INTN"], f["DESC"])
        return [{"CONO": COMPANY}]

    def GLS840MI__AddBatchLine(self, f: Row) -> list[Row]:
        batch = self._gl_batch(f)
        if batch.status == "updated":
            raise MiFault(f"Batch {batch.key1} is already updated", field="KEY1")
        line = int(f["LINE"])
        if line in batch.lines:
            raise MiFault("Record already exists", field="LINE")
        batch.lines[line] = f["PARM"]
        batch.status = "open"
        return [{"CONO": COMPANY}]

    def _parse_parm(self, parm: str) -> Row:
        padded = parm.ljust(max(s + n - 1 for s, n in PARM_LAYOUT.values()))
        return {name: padded[s - 1 : s - 1 + n].strip() for name, (s, n) in PARM_LAYOUT.items()}

    def _control(self, batch: GlBatch) -> list[tuple[int, Row]]:
        errors: list[str] = []
        parsed: list[tuple[int, Row]] = []
        groups: dict[str, Decimal] = {}
        if not batch.lines:
            errors.append("batch has no lines")
        for number in sorted(batch.lines):
            record = self._parse_parm(batch.lines[number])
            problem = None
            try:
                amount = Decimal(record["CUAM"].replace(",", "."))
            except InvalidOperation:
                amount, problem = Decimal(0), f"amount '{record['CUAM']}' is invalid"
            try:
                datetime.strptime(record["ACDT"], "%Y%m%d")
            except ValueError:
                problem = f"accounting date '{record['ACDT']}' is invalid"
            if record["record_id"] != "I1":
                problem = f"record id '{record['record_id']}' is not I1"
            elif not record["AIT1"]:
                problem = "account is blank"
            elif record["AIT1"] in self.blocked_accounts or (
                self.chart_of_accounts is not None and record["AIT1"] not in self.chart_of_accounts
            ):
                problem = f"Account {record['AIT1']} does not exist or is blocked"
            elif len(record["CUCD"]) != 3 or not record["CUCD"].isalpha():
                problem = f"currency '{record['CUCD']}' is invalid"
            elif record["DIVI"] and record["DIVI"] != DIVISION:
                problem = f"division {record['DIVI']} does not exist"
            if problem:
                errors.append(f"line {number}: {problem}")
            groups[record["group"]] = groups.get(record["group"], Decimal(0)) + amount
            record["amount"] = str(amount)
            parsed.append((number, record))
        for group, balance in groups.items():
            if balance != 0:
                errors.append(f"voucher group {group} does not balance ({_amount(balance)})")
        batch.errors = errors
        batch.status = "errors" if errors else "controlled"
        return parsed

    def GLS840MI__CtrlBatch(self, f: Row) -> list[Row]:
        batch = self._gl_batch(f)
        if batch.status == "updated":
            raise MiFault(f"Batch {batch.key1} is already updated", field="KEY1")
        self._control(batch)
        if batch.errors:
            raise MiFault(
                f"Batch {batch.key1} contains errors: " + "; ".join(batch.errors)[:200], field="KEY1"
            )
        return [{"CONO": COMPANY}]

    def GLS840MI__UpdBatch(self, f: Row) -> list[Row]:
        batch = self._gl_batch(f)
        if batch.status == "updated":
            raise MiFault(f"Batch {batch.key1} is already updated", field="KEY1")
        parsed = self._control(batch)
        if batch.errors:
            raise MiFault(
                f"Batch {batch.key1} contains errors: " + "; ".join(batch.errors)[:200], field="KEY1"
            )
        journal = self.next_number("JRNO", 0)
        vouchers: dict[str, int] = {}
        for sequence, (_, record) in enumerate(parsed, start=1):
            acdt = record["ACDT"]
            if record["group"] not in vouchers:
                vouchers[record["group"]] = self.next_number(f"VONO{acdt[:4]}", 1000)
            amount = Decimal(record["amount"])
            self.voucher_lines.append(
                {
                    "CONO": COMPANY,
                    "DIVI": record["DIVI"] or DIVISION,
                    "YEA4": acdt[:4],
                    "JRNO": str(journal),
                    "JSNO": str(sequence),
                    "VSER": "",
                    "VONO": str(vouchers[record["group"]]),
                    "ACDT": acdt,
                    **{f"AIT{n}": record[f"AIT{n}"] for n in range(1, 8)},
                    "CUCD": record["CUCD"],
                    "CUAM": _amount(amount),
                    "ACAM": _amount(amount),
                    "DBCR": "D" if amount >= 0 else "C",
                    "VTXT": record["VTXT"],
                    "FEID": "GL10",
                    "FNCN": "1",
                    "RGDT": self.today().strftime("%Y%m%d"),
                }
            )
        batch.status = "updated"
        return [{"CONO": COMPANY}]

    # -- GLS200MI: posted vouchers ------------------------------------------------------------------

    def GLS200MI__LstVouchersByDt(self, f: Row) -> list[Row]:
        division = f.get("DIVI") or DIVISION
        return [
            r for r in self.voucher_lines if f["FRDT"] <= r["ACDT"] <= f["TODT"] and r["DIVI"] == division
        ]

    def GLS200MI__GetVoucherHead(self, f: Row) -> list[Row]:
        lines = [
            r
            for r in self.voucher_lines
            if (r["DIVI"], r["YEA4"], r["VONO"]) == (f["DIVI"], f["YEA4"], f["VONO"])
        ]
        if not lines:
            raise MiFault(f"Voucher {f['VONO']} does not exist", field="VONO")
        debit = sum((Decimal(r["ACAM"]) for r in lines if r["DBCR"] == "D"), Decimal(0))
        credit = sum((-Decimal(r["ACAM"]) for r in lines if r["DBCR"] == "C"), Decimal(0))
        head = lines[0]
        return [
            {
                **{k: head[k] for k in ("CONO", "DIVI", "YEA4", "VSER", "VONO", "FEID", "FNCN", "CUCD")},
                "DSUM": _amount(debit),
                "CSUM": _amount(credit),
            }
        ]

    # -- CRS610MI: customers ------------------------------------------------------------------------

    def CRS610MI__Add(self, f: Row) -> list[Row]:
        template = self.customers.get(f["CUTM"])
        if template is None:
            raise MiFault(f"Template customer {f['CUTM']} does not exist", code="WCU0203", field="CUTM")
        number = f.get("CUNO", "")
        if number and number in self.customers:
            raise MiFault(f"Customer number {number} already exists", code="WCU0201", field="CUNO")
        number = number or str(self.next_number("CUNO", 1000000))
        customer = {k: v for k, v in template.items()} | {
            k: v for k, v in f.items() if k not in ("CUTM", "CONO")
        }
        customer["CUNO"] = number
        self.customers[number] = customer
        return [{"CUNO": number}]

    def CRS610MI__GetBasicData(self, f: Row) -> list[Row]:
        customer = self.customers.get(f["CUNO"])
        if customer is None:
            raise MiFault(f"Customer number {f['CUNO']} does not exist", code="WCU0203", field="CUNO")
        return [customer | {"CONO": COMPANY}]

    def CRS610MI__LstByNumber(self, f: Row) -> list[Row]:
        start = f.get("CUNO", "")
        return [c | {"CONO": COMPANY} for n, c in sorted(self.customers.items()) if n >= start]

    # -- OIS100MI: customer orders ------------------------------------------------------------------

    def _batch(self, f: Row) -> BatchOrder:
        batch = self.batch_orders.get(f["ORNO"])
        if batch is None:
            raise MiFault(f"Order number {f['ORNO']} does not exist", field="ORNO")
        return batch

    def OIS100MI__AddBatchHead(self, f: Row) -> list[Row]:
        customer = self.customers.get(f["CUNO"])
        if customer is None or f["CUNO"] == TEMPLATE_CUSTOMER:
            raise MiFault(f"Customer {f['CUNO']} does not exist", field="CUNO")
        orno = str(self.next_number("TEMP", 500000000)).zfill(10)
        head = {
            "ORNO": orno,
            "CUNO": f["CUNO"],
            "ORTP": f.get("ORTP") or ORDER_TYPE,
            "FACI": f.get("FACI") or FACILITY,
            "WHLO": f.get("WHLO") or WAREHOUSE,
            "CUOR": f.get("CUOR", ""),
            "ORDT": f.get("ORDT") or self.today().strftime("%Y%m%d"),
            "CUCD": f.get("CUCD") or customer.get("CUCD", ""),
            "YREF": f.get("YREF", ""),
            "STAT": "10",
            "ORSL": "",
            "ORST": "",
            "ORNR": "",
        }
        self.batch_orders[orno] = BatchOrder(orno, head)
        return [{"ORNO": orno}]

    def OIS100MI__AddBatchAddress(self, f: Row) -> list[Row]:
        self._batch(f).address = dict(f)
        return []

    def OIS100MI__AddBatchLine(self, f: Row) -> list[Row]:
        batch = self._batch(f)
        if batch.final:
            raise MiFault(f"Order {batch.orno} is already confirmed", field="ORNO")
        if f["ITNO"] not in self.items:
            raise MiFault(f"Item number {f['ITNO']} does not exist", field="ITNO")
        ponr = str(len(batch.lines) + 1)
        batch.lines.append(
            {
                "PONR": ponr,
                "POSX": "0",
                "ITNO": f["ITNO"],
                "ITDS": self.items[f["ITNO"]]["ITDS"],
                "ORQT": _amount(Decimal(f.get("ORQT") or "1")),
                "SAPR": f.get("SAPR", ""),
                "WHLO": f.get("WHLO") or batch.head["WHLO"],
                "CUOR": f.get("CUOR", ""),
                "CUCD": batch.head["CUCD"],
                "ORST": "",
            }
        )
        return [{"PONR": ponr, "POSX": "0"}]

    def OIS100MI__Confirm(self, f: Row) -> list[Row]:
        batch = self._batch(f)
        if batch.final:
            raise MiFault(f"Order {batch.orno} is already confirmed", field="ORNO")
        errors = []
        if not batch.lines:
            errors.append(("OI00101", "Order has no lines"))
        for line in batch.lines:
            item = self.items[line["ITNO"]]
            if item["STAT"] != "20":
                errors.append(("MM00201", f"Item {line['ITNO']} has status {item['STAT']} - not allowed"))
            if Decimal(line["ORQT"]) <= 0:
                errors.append(("OI00102", f"Line {line['PONR']}: quantity must be greater than zero"))
        batch.errors = [{"MSID": code, "TX60": text[:60], "LEVL": "1", "MDTA": ""} for code, text in errors]
        if errors:
            batch.head["STAT"] = "15"
            raise MiFault(f"Order {batch.orno} could not be confirmed, see LstErrMsgOrder")
        final = str(self.next_number("ORNO", 100000)).zfill(10)
        lines = []
        for line in batch.lines:
            lines.append(line | {"ORST": "33", "DLQT": "0.00", "IVQT": "0.00", "ALQT": line["ORQT"]})
            balance = self.balances.get((line["WHLO"], line["ITNO"]))
            if balance:
                balance["ALQT"] += Decimal(line["ORQT"])
        head = batch.head | {"ORNO": final, "STAT": "20", "DIVI": DIVISION}
        self.orders[final] = {"head": head, "lines": lines}
        self._order_status(self.orders[final])
        batch.final = final
        batch.head.update(STAT="90", ORNR=final)
        return [{"ORNO": final, "STAT": "90"}]

    def _order_status(self, order: dict) -> None:
        statuses = [line["ORST"] for line in order["lines"]] or ["33"]
        order["head"].update(ORSL=min(statuses), ORST=max(statuses))

    def OIS100MI__DelBatchHead(self, f: Row) -> list[Row]:
        batch = self._batch(f)
        if batch.final:
            raise MiFault(f"Order {batch.orno} is already confirmed", field="ORNO")
        del self.batch_orders[batch.orno]
        return []

    def OIS100MI__GetBatchHead(self, f: Row) -> list[Row]:
        return [self._batch(f).head]

    def OIS100MI__LstBatchHead(self, f: Row) -> list[Row]:
        return [b.head for b in self.batch_orders.values() if b.head["CUNO"] == f["CUNO"]]

    def OIS100MI__LstErrMsgOrder(self, f: Row) -> list[Row]:
        return list(self._batch(f).errors)

    def OIS100MI__GetOrderNo(self, f: Row) -> list[Row]:
        batch = self._batch(f)
        if not batch.final:
            raise MiFault(f"Order {batch.orno} is not confirmed", field="ORNO")
        return [{"ORNR": batch.final}]

    def _order(self, orno: str) -> dict:
        order = self.orders.get(orno)
        if order is None:
            raise MiFault(f"Order number {orno} does not exist", field="ORNO")
        return order

    def OIS100MI__GetHead(self, f: Row) -> list[Row]:
        return [self._order(f["ORNO"])["head"]]

    def export_tables(self) -> dict:
        """The tables EXPORTMI can read in this tenant (sandbox/m3/export.py): customer order heads,
        batch order heads, and FCHACC's accounting identities (dimension 1 = the GL accounts)."""
        return {
            "OOHEAD": lambda: (export.prefixed("OA", o["head"], COMPANY) for o in self.orders.values()),
            "OXHEAD": lambda: (export.prefixed("OA", b.head, COMPANY) for b in self.batch_orders.values()),
            "FCHACC": self._accounting_identities,
            "CCURRA": self._exchange_rates,
        }

    def _exchange_rates(self) -> list[Row]:
        return [
            {"CUCONO": COMPANY, "CUDIVI": DIVISION, "CUCUCD": cucd, "CUCRTP": str(crtp), "CUCUTD": cutd,
             "CUARAT": str(rate), "CULOCD": self.local_currency}
            for (cucd, crtp, cutd), rate in sorted(self.exchange_rates.items())
        ]  # fmt: skip

    def _accounting_identities(self) -> list[Row]:
        chart = self.chart_of_accounts if self.chart_of_accounts is not None else default_chart()
        rows = [(1, account) for account in sorted(chart)]
        rows += [
            (n, value) for n, values in sorted(self.accounting_identities.items()) for value in sorted(values)
        ]
        # EALCCD, the lock code: 1 = blocked, 0 = open (a blocked account takes no new entries)
        blocked = {(1, a) for a in self.blocked_accounts} | self.blocked_identities
        return [
            {
                "EACONO": COMPANY,
                "EAAITP": str(n),
                "EAAITM": value,
                "EALCCD": "1" if (n, value) in blocked else "0",
            }
            for n, value in rows
        ]

    def EXPORTMI__Select(self, f: Row) -> list[Row]:
        if not self.exportmi_allowed:
            raise MiFault("Not allowed", error_type="ServerReturnedNOK")
        try:
            return export.select(self.export_tables(), f["QERY"], f.get("SEPC") or ";")
        except export.QueryError as exc:
            raise MiFault(str(exc), field="QERY") from None

    def OIS100MI__LstHead(self, f: Row) -> list[Row]:
        return [o["head"] for _, o in sorted(self.orders.items()) if o["head"]["CUNO"] == f["CUNO"]]

    def OIS100MI__LstLine(self, f: Row) -> list[Row]:
        return list(self._order(f["ORNO"])["lines"])

    def OIS100MI__LstDelLineByCO(self, f: Row) -> list[Row]:
        return [r for r in self.delivery_lines if r["RIDN"] == f["ORNO"] and r["RIDL"] == f["PONR"]]

    # -- MMS025MI / MMS200MI: items, aliases, balances ----------------------------------------------

    def _alias_rows(self, alwt: str, alwq: str | None) -> list[Row]:
        return [
            a | {"CONO": COMPANY}
            for a in self.aliases
            if a["ALWT"] == str(int(alwt)) and (alwq is None or a["ALWQ"] == alwq)
        ]

    def MMS025MI__GetItem(self, f: Row) -> list[Row]:
        for alias in self._alias_rows(f["ALWT"], f.get("ALWQ") or None):
            if alias["POPN"] == f["POPN"]:
                return [alias]
        raise MiFault(f"Alias number {f['POPN']} does not exist", field="POPN")

    def MMS025MI__LstAlias(self, f: Row) -> list[Row]:
        return [a | {"CONO": COMPANY} for a in self.aliases if a["ITNO"] == f["ITNO"]]

    def MMS025MI__LstAliasViaCat(self, f: Row) -> list[Row]:
        return self._alias_rows(f["ALWT"], f.get("ALWQ") or None)

    def MMS025MI__AddAlias(self, f: Row) -> list[Row]:
        if f["ITNO"] not in self.items:
            raise MiFault(f"Item number {f['ITNO']} does not exist", field="ITNO")
        if self._alias_rows(f["ALWT"], f["ALWQ"]) and any(
            a["POPN"] == f["POPN"] for a in self._alias_rows(f["ALWT"], f["ALWQ"])
        ):
            raise MiFault("Record already exists", field="POPN")
        self.aliases.append(
            {"ALWT": str(int(f["ALWT"])), "ALWQ": f["ALWQ"], "POPN": f["POPN"], "ITNO": f["ITNO"]}
        )
        return []

    def MMS200MI__Get(self, f: Row) -> list[Row]:
        item = self.items.get(f["ITNO"])
        if item is None:
            raise MiFault(f"Item number {f['ITNO']} does not exist", field="ITNO")
        return [item]

    def MMS200MI__LstItmByItm(self, f: Row) -> list[Row]:
        return [i for n, i in sorted(self.items.items()) if n >= f["ITNO"]]

    def MMS200MI__GetItmWhsBal(self, f: Row) -> list[Row]:
        balance = self.balances.get((f["WHLO"], f["ITNO"]))
        if balance is None:
            raise MiFault(f"Item {f['ITNO']} does not exist in warehouse {f['WHLO']}", field="ITNO")
        av01 = balance["STQT"] - balance["ALQT"] - balance["REQT"]  # documented assumption, see M3-ION.md 6.5
        values = {k: _amount(v) for k, v in balance.items()}
        return [
            values
            | {
                "CONO": COMPANY,
                "WHLO": f["WHLO"],
                "ITNO": f["ITNO"],
                "FACI": FACILITY,
                "AV01": _amount(av01),
                "AVAL": _amount(av01),
                "AV02": _amount(balance["STQT"] - balance["ALQT"]),
            }
        ]

    # -- MWS410MI: deliveries -----------------------------------------------------------------------

    def MWS410MI__GetHead(self, f: Row) -> list[Row]:
        delivery = self.deliveries.get(f.get("DLIX", ""))
        if delivery is None:
            raise MiFault(f"Delivery number {f.get('DLIX', '')} does not exist", field="DLIX")
        return [delivery]


def default_chart() -> set[str]:
    """A tenant set up for ml-connector: its chart holds the shipped default mapping's accounts."""
    from ml_connector.settlement.mapping import load_mapping, producible_accounts

    return set(producible_accounts(load_mapping()))
