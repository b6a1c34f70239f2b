"""Settlement journals into the M3 general ledger through GLS840MI, found again through GLS200MI.

The document key starts the voucher text (VTXT) of every line, so the posted voucher can be found
by listing the vouchers of the journal's accounting dates. GLS840MI returns no voucher number and
cannot list or delete its interface batches, so a batch left behind by an interrupted run is
abandoned (never updated) and the next attempt opens a new batch key.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from ml_connector.errors import PermanentError, TransientError
from ml_connector.model.documents import JournalDocument
from ml_connector.model.money import Money
from ml_connector.targets.m3.gls840 import batch_key, dimension_slots, format_amount, run_number
from ml_connector.targets.m3.mi import MiClient
from ml_connector.targets.m3.responses import MiError
from ml_connector.targets.m3.settings import M3Settings

VTXT_LENGTH = 40
MAX_BATCH_ATTEMPTS = 36


def voucher_text(key: str, description: str) -> str:
    return f"{key} {description}".strip()[:VTXT_LENGTH]


def carries_key(vtxt: str, key: str) -> bool:
    return vtxt == key or vtxt.startswith(key + " ")


class JournalPoster:
    def __init__(self, mi: MiClient, settings: M3Settings) -> None:
        self._mi = mi
        self._settings = settings
        self._posting_dates: dict[str, date] = {}  # key -> posting date, for total() in the same run

    def _voucher_lines(self, first: date, last: date) -> list[dict[str, str]]:
        return self._mi.call(
            "GLS200MI",
            "LstVouchersByDt",
            {
                "FRDT": first.strftime("%Y%m%d"),
                "TODT": last.strftime("%Y%m%d"),
                "DIVI": self._settings.division,
            },
            maxrecs=0,
        )

    def find(self, document: JournalDocument) -> str | None:
        journal = document.journal
        self._posting_dates[document.key] = journal.posting_date
        window = timedelta(days=self._settings.journal_find_window_days)
        rows = self._voucher_lines(journal.posting_date - window, journal.posting_date + window)
        for row in rows:
            if carries_key(row.get("VTXT", ""), document.key):
                return ":".join(
                    (row.get("DIVI", ""), row.get("YEA4", ""), row.get("VSER", ""), row.get("VONO", ""))
                )
        return None

    def find_all(self, document: JournalDocument) -> list[str]:
        """Every voucher with a line carrying the key, as DIVI:YEA4:VSER:VONO."""
        journal = document.journal
        window = timedelta(days=self._settings.journal_find_window_days)
        rows = self._voucher_lines(journal.posting_date - window, journal.posting_date + window)
        vouchers = [
            ":".join((row.get("DIVI", ""), row.get("YEA4", ""), row.get("VSER", ""), row.get("VONO", "")))
            for row in rows
            if carries_key(row.get("VTXT", ""), document.key)
        ]
        return list(dict.fromkeys(vouchers))

    def total_debit(self, key: str, currency: str, today: date) -> Money | None:
        """The posted voucher's total debit (for reconcile); None when no voucher carries the key."""
        known = self._posting_dates.get(key)
        window = timedelta(days=self._settings.journal_find_window_days)
        if known is not None:
            first, last = known - window, known + window
        else:
            first, last = (
                today - timedelta(days=self._settings.journal_lookup_days),
                today + timedelta(days=1),
            )
        lines = [row for row in self._voucher_lines(first, last) if carries_key(row.get("VTXT", ""), key)]
        if not lines:
            return None
        debit = sum(
            (Decimal(row["CUAM"]) for row in lines if Decimal(row.get("CUAM") or "0") > 0), Decimal(0)
        )
        return Money(debit, lines[0].get("CUCD") or currency)

    def records(self, document: JournalDocument) -> list[str]:
        """The PARM records of the journal, all validated before anything is sent."""
        journal = document.journal
        layout = self._settings.gls840_layout
        if len(document.key) > VTXT_LENGTH - 1:
            raise PermanentError(f"journal key {document.key!r} does not fit M3's 40-character voucher text")
        if not journal.lines:
            raise PermanentError(f"journal {document.key} has no lines")
        if not journal.balanced:
            raise PermanentError(
                f"journal {document.key} does not balance (debit {journal.total_debit}, credit {journal.total_credit})"
            )
        run = run_number(document.key)
        records = []
        for number, line in enumerate(journal.lines, start=1):
            if line.currency != journal.currency:
                raise PermanentError(
                    f"journal {document.key} line {number}: currency {line.currency} is not {journal.currency}"
                )
            if not line.account:
                raise PermanentError(
                    f"journal {document.key} line {number} ({line.description}): no GL account"
                )
            values = {
                "run": run,
                "group": "1".zfill(8),
                "DIVI": self._settings.division,
                "AIT1": line.account,
                **dimension_slots(line.dimensions, self._settings.dimension_fields),
                "CUCD": line.currency,
                "CUAM": format_amount(line.net.as_string(), layout.decimal_separator),
                "ACDT": journal.posting_date.strftime("%Y%m%d"),
                "VTXT": voucher_text(document.key, line.description or journal.description),
            }
            try:
                records.append(layout.render(values))
            except ValueError as exc:
                raise PermanentError(f"journal {document.key} line {number}: {exc}") from None
        return records

    def post(self, document: JournalDocument) -> str:
        records = self.records(document)
        key1 = self._open_batch(document)
        base = {"CONO": self._settings.company, "KEY1": key1, "DIVI": self._settings.division}
        results = self._mi.bulk(
            "GLS840MI",
            [
                ("AddBatchLine", {**base, "LINE": str(n), "PARM": parm})
                for n, parm in enumerate(records, start=1)
            ],
        )
        failed = [(n, r.error) for n, r in enumerate(results, start=1) if r.error is not None]
        if failed:
            n, error = failed[0]
            raise PermanentError(
                f"GLS840MI batch {key1} for journal {document.key}: line {n} refused, batch not updated: {error}",
                target_message=error.target_message if error else None,
            )
        try:
            self._mi.call("GLS840MI", "CtrlBatch", base)
        except MiError as exc:
            raise PermanentError(
                f"GLS840MI batch {key1} for journal {document.key} failed its control and was not updated: {exc.target_message}",
                target_message=exc.target_message,
                field=exc.field,
            ) from None
        self._mi.call("GLS840MI", "UpdBatch", base)
        voucher = self.find(document)
        if voucher is None:  # UpdBatch may run as a batch job; the next find() will see the voucher
            raise TransientError(f"GLS840MI batch {key1} updated; voucher for {document.key} not visible yet")
        return voucher

    def _open_batch(self, document: JournalDocument) -> str:
        description = f"{document.key} {document.journal.description}".strip()[:60]
        for attempt in range(MAX_BATCH_ATTEMPTS):
            key1 = batch_key(document.key, attempt, prefix=self._settings.gls840_key_prefix)
            try:
                self._mi.call(
                    "GLS840MI",
                    "AddBatchHead",
                    {
                        "CONO": self._settings.company,
                        "KEY1": key1,
                        "INTN": self._settings.gls840_interface,
                        "DESC": description,
                        "DIVI": self._settings.division,
                    },
                )
                return key1
            except MiError as exc:
                if "already exists" not in exc.target_message.lower():
                    raise
        raise PermanentError(
            f"journal {document.key}: {MAX_BATCH_ATTEMPTS} abandoned GLS840MI batches; clean up GLS840"
        )
