"""The reconcile flow: the controller's tie-out of each settlement, naming every difference.

Per settlement: the report's total-amount = the sum of its lines = the Finances transactions of its
event group (order by order) = the deposit (bank) line of its journal(s), posted in the ERP;
Amazon's own listSummary net proceeds = the total, and its listPayouts transfer = the deposit
(PAID, its trace id shown). In invoice mode each order's receivable-clearing lines = its ERP
invoice. At each month end the ledger's reserve and deferred balances = Amazon's listBalances.

``model`` holds the results, ``sums`` the report read once (header and sums stored with the raw
report), ``checks`` one pure function per check, ``gather`` the inputs from the store, Amazon and
the ERP, ``flow`` the scheduled run. Reconcile only reads: it never writes to Amazon or the ERP,
and records nothing but audit notes (and, for a report kept before sums existed, its sums).
"""

from ml_connector.flows.reconcile.checks import (
    check_finances,
    check_invoices,
    check_journals,
    check_lines,
    check_month_end,
    check_payout,
    check_reserve,
    check_summary,
    tie_out,
)
from ml_connector.flows.reconcile.flow import FLOW, run, tied_before
from ml_connector.flows.reconcile.gather import (
    match_group,
    previous_settlements,
    reconcile,
    reconcile_deployment,
    reconcile_month_ends,
    reconcile_settlement,
    settlement_ids,
)
from ml_connector.flows.reconcile.model import (
    NO_ORDER,
    POSTED,
    AmazonPayout,
    Difference,
    Invoice,
    MonthEnd,
    OrderTie,
    PostedJournal,
    Reserve,
    TieOut,
)
from ml_connector.flows.reconcile.sums import (
    RAW_KIND,
    SUMS_KIND,
    ReportSums,
    StoredReport,
    deposit_of,
    keep_report_sums,
    load_report,
    receivable_amounts,
    reserve_amounts,
    transactions_by_order,
)

REBUILDERS: dict = {}  # reconcile only reads: it posts nothing a replay could rebuild

__all__ = [
    "REBUILDERS",
    "FLOW", "NO_ORDER", "POSTED", "RAW_KIND", "SUMS_KIND", "AmazonPayout", "Difference", "Invoice", "MonthEnd",
    "OrderTie", "PostedJournal", "ReportSums", "Reserve", "StoredReport", "TieOut", "check_finances",
    "check_invoices", "check_journals", "check_lines", "check_month_end", "check_payout", "check_reserve",
    "check_summary", "deposit_of", "keep_report_sums", "load_report", "match_group", "previous_settlements",
    "receivable_amounts", "reconcile", "reconcile_deployment", "reconcile_month_ends", "reconcile_settlement", "reserve_amounts",
    "run", "settlement_ids", "tie_out", "tied_before", "transactions_by_order",
]  # fmt: skip
