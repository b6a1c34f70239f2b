"""Why a settlement is quarantined instead of posted.

Every reason is its own class, so that callers (the CLI, the settlements flow) can tell them apart,
and every message names the numbers a finance user needs to find the problem in the file.
A quarantined settlement is a permanent error for that record: retrying the same file cannot help.
"""

from __future__ import annotations

from ml_connector.errors import PermanentError


class QuarantineError(PermanentError):
    """The settlement cannot be posted; ``reason`` is a short stable code for the audit trail."""

    reason = "quarantined"


class NotASettlementReport(QuarantineError):
    reason = "not_a_settlement_report"


class RetiredFormat(NotASettlementReport):
    """A settlement format Amazon no longer produces (the XML report); says what to download."""

    reason = "retired_format"


XML_RETIRED = (
    "XML settlement reports were retired by Amazon on 2026-11-11: download the flat file V2 "
    "(Reports → Payments → All statements → Download Flat File V2)"
)


class TruncatedReport(QuarantineError):
    reason = "truncated"


class BadValue(QuarantineError):
    """A cell that cannot be read as what its column holds (an amount, a date, a quantity)."""

    reason = "bad_value"


class AmbiguousFormat(BadValue):
    """The file does not say which number or date convention it uses, and a value depends on it."""

    reason = "ambiguous_format"


class MixedCurrencies(QuarantineError):
    reason = "mixed_currencies"


class TotalMismatch(QuarantineError):
    reason = "total_mismatch"


class UnmappedKeys(QuarantineError):
    reason = "unmapped"
