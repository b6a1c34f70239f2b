"""The settlement preview as plain data: what `settlement show --json` prints (and the web can serve).

Amounts are decimal strings at the currency's precision, dates ISO 8601; never floats.
"""

from __future__ import annotations

from typing import Any

from ml_connector.model.journal import Journal
from ml_connector.model.settlement import Settlement
from ml_connector.settlement.errors import QuarantineError
from ml_connector.settlement.journal_builder import BuildResult


def result_to_dict(result: BuildResult, report_format: str | None = None) -> dict[str, Any]:
    s = result.settlement
    return {
        **settlement_to_dict(s),
        "format": report_format,
        "mode": result.mode,
        "split_by_period": result.split_by_period,
        "lines_total": result.lines_total.as_string() if result.lines_total is not None else None,
        "line_count": result.line_count,
        "categories": [
            {"category": name, "label": result.category_labels.get(name, name), "amount": amount.as_string()}
            for name, amount in sorted(result.categories.items())
        ],
        "journals": [journal_to_dict(journal) for journal in result.journals],
        "unmapped": [
            {
                "transaction_type": u.transaction_type,
                "amount_type": u.amount_type,
                "amount_description": u.amount_description,
                "marketplace": u.marketplace,
                "lines": u.lines,
                "amount": u.amount.as_string(),
                "first_line": u.first_line,
                "suggested_rule": u.suggested_rule,
            }
            for u in result.unmapped
        ],
        "quarantined": result.quarantined,
        "reasons": [{"reason": e.reason, "message": str(e)} for e in result.errors],
    }


def settlement_to_dict(s: Settlement) -> dict[str, Any]:
    return {
        "settlement_id": s.settlement_id,
        "report_type": s.report_type,
        "marketplace": s.marketplace,
        "currency": s.currency,
        "total": s.total.as_string(),
        "start": s.start.isoformat(),
        "end": s.end.isoformat(),
        "deposit_date": s.deposit_date.isoformat() if s.deposit_date else None,
    }


def journal_to_dict(journal: Journal) -> dict[str, Any]:
    return {
        "reference": journal.reference,
        "settlement_id": journal.settlement_id,
        "period": journal.period,
        "posting_date": journal.posting_date.isoformat(),
        "description": journal.description,
        "currency": journal.currency,
        "lines": [
            {
                "account": line.account,
                "debit": line.debit.as_string(),
                "credit": line.credit.as_string(),
                "description": line.description,
                "dimensions": dict(line.dimensions),
                "category": line.category,
                "reference": line.reference,
            }
            for line in journal.lines
        ],
        "total_debit": journal.total_debit.as_string(),
        "total_credit": journal.total_credit.as_string(),
        "balanced": journal.balanced,
    }


def error_to_dict(error: QuarantineError) -> dict[str, Any]:
    """The JSON for a file that could not even be opened as a settlement report."""
    return {
        "settlement_id": None,
        "journals": [],
        "unmapped": [],
        "quarantined": True,
        "reasons": [{"reason": error.reason, "message": str(error)}],
    }
