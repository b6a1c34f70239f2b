"""MI REST as the gateway serves it: input validation from the MI metadata, then the v1
(``MIRecord``/``NameValue``, padded) or v2 (``results``/``records``) envelope around the records."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from ml_connector.sandbox.m3.metadata import MiCatalog, Transaction
from ml_connector.sandbox.m3.world import COMPANY, DIVISION, M3World, MiFault, Row

OPTION_NAMES = frozenset(
    {
        "maxrecs",
        "returncols",
        "metadata",
        "excludempty",
        "excludeempty",
        "cono",
        "divi",
        "righttrim",
        "dateformat",
        "format",
        "extendedresult",
        "m3user",
    }
)
DEFAULT_MAXRECS = 100


def validate(tx: Transaction, catalog: MiCatalog, fields: Row) -> None:
    known = tx.input_names
    for name in fields:
        if name not in known:
            raise MiFault(f"Input field {name} does not exist in {tx.program}.{tx.name}", field=name)
    for name in tx.mandatory:
        if not fields.get(name, "").strip():
            raise MiFault(
                f"Mandatory input field {name} not found",
                error_type="MandatoryInputFieldNotFound",
                field=name,
            )
    for name, value in fields.items():
        m3_type, length = catalog.fields.get(name, ("", 0))
        if m3_type == "A" and length and len(value) > length:
            raise MiFault(
                f"Input field {name} is too long (max {length})", error_type="InputFieldTooLong", field=name
            )
        if m3_type == "N" and value.strip():
            try:
                Decimal(value)
            except InvalidOperation:
                raise MiFault(f"Input field {name} is not numeric", field=name) from None
        if m3_type == "D" and value.strip():
            try:
                datetime.strptime(value, "%Y%m%d")
            except ValueError:
                raise MiFault(f"Input field {name} is not a date YYYYMMDD", field=name) from None


def execute(
    world: M3World, catalog: MiCatalog, program: str, transaction: str, fields: Row, options: dict[str, str]
) -> list[Row]:
    """Run one transaction; raise MiFault as M3 would."""
    tx = catalog.get(program, transaction)
    handler = world.handlers.get((program, transaction))
    if tx is None or handler is None:
        raise MiFault(
            f"Transaction {transaction} does not exist in program {program}", error_type="TransactionNotFound"
        )
    fields = {k: v for k, v in fields.items() if v != ""}
    company = fields.get("CONO") or options.get("cono") or COMPANY
    if company != COMPANY:
        raise MiFault(f"Not authorized to company {company}", code="XAU0008", field="CONO")
    if "CONO" in tx.input_names:
        fields["CONO"] = company
    if "DIVI" in tx.input_names and not fields.get("DIVI") and options.get("divi"):
        fields["DIVI"] = options["divi"]
    validate(tx, catalog, fields)
    with world.lock:
        world.calls[f"{program}.{transaction}"] += 1
        rows = handler(fields)
    maxrecs = int(options.get("maxrecs") or DEFAULT_MAXRECS)
    if maxrecs > 0:
        rows = rows[:maxrecs]
    columns = [name for name, _, _ in tx.outputs]
    if options.get("returncols"):
        wanted = set(options["returncols"].split(","))
        columns = [c for c in columns if c in wanted]
    records = [{c: str(row.get(c, "")) for c in columns} for row in rows]
    if (options.get("excludempty") or options.get("excludeempty") or "").lower() == "true":
        records = [{c: v for c, v in record.items() if v.strip()} for record in records]
    return records


def v2_result(
    transaction: str, rows: list[Row] | None, fault: MiFault | None, pad: dict[str, int] | None = None
) -> dict:
    if fault is not None:
        result = {"transaction": transaction, "errorMessage": fault.message, "errorType": fault.error_type}
        if fault.code:
            result["errorCode"] = fault.code
        if fault.field:
            result["errorField"] = fault.field
        return result
    records = rows or []
    if pad:
        records = [{k: v.ljust(pad.get(k, 0)) for k, v in r.items()} for r in records]
    return {"transaction": transaction, "records": records}


def v2_envelope(results: list[dict]) -> dict:
    failed = sum(1 for r in results if "errorMessage" in r)
    return {
        "results": results,
        "wasTerminated": False,
        "nrOfSuccessfullTransactions": len(results) - failed,
        "nrOfFailedTransactions": failed,
    }


def v1_body(
    tx: Transaction | None, program: str, transaction: str, rows: list[Row] | None, fault: MiFault | None
) -> dict:
    if fault is not None:
        message = fault.message.ljust(60)
        return {
            "@type": fault.error_type,
            "@code": fault.code or None,
            "@field": fault.field or None,
            "@cfg": None,
            "Message": message,
        }
    lengths = {name: length for name, _, length in tx.outputs} if tx else {}
    types = {name: m3_type for name, m3_type, _ in tx.outputs} if tx else {}
    return {
        "Program": program,
        "Transaction": transaction,
        "Metadata": {
            "Field": [
                {"@name": n, "@type": types[n], "@length": lengths[n], "@description": ""}
                for n in (rows[0] if rows else {})
            ]
        },
        "MIRecord": [
            {
                "RowIndex": index,
                "NameValue": [{"Name": k, "Value": v.ljust(lengths.get(k, 0))} for k, v in row.items()],
            }
            for index, row in enumerate(rows or [])
        ],
    }


__all__ = ["DIVISION", "OPTION_NAMES", "execute", "v1_body", "v2_envelope", "v2_result"]
