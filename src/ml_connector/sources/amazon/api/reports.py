"""Reports 2021-06-30: settlement reports (flat file V2) listed, requested, waited for and
downloaded (gunzipped when Amazon says GZIP)."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ml_connector.errors import PermanentError, TransientError
from ml_connector.sources.amazon import mapping
from ml_connector.sources.amazon.api.common import fetch_presigned, get_json, iso
from ml_connector.sources.amazon.api.paging import get_pages
from ml_connector.sources.amazon.resources import ReportInfo
from ml_connector.sources.amazon.transport import parse_json
from ml_connector.transport.waits import announce

if TYPE_CHECKING:
    from ml_connector.sources.amazon.client import SpApiClient

SETTLEMENT_V2 = "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"
PREPARING = ("IN_QUEUE", "IN_PROGRESS")  # getReport statuses of a report Amazon is still preparing
REPORT_WAIT_LIMIT = 900.0  # seconds one download waits for a report before deferring it


def list_settlement_reports(
    client: SpApiClient, created_since: datetime, *, marketplace_ids: Iterable[str] | None = None
) -> Iterator[ReportInfo]:
    """DONE settlement reports (flat file V2) created since the date, every page."""
    params: dict[str, Any] = {
        "reportTypes": [SETTLEMENT_V2],
        "processingStatuses": ["DONE"],
        "createdSince": iso(created_since),
        "pageSize": 100,
    }
    if marketplace_ids:
        params["marketplaceIds"] = list(marketplace_ids)
    for page in get_pages(
        client,
        "getReports",
        "/reports/2021-06-30/reports",
        params,
        send_as="nextToken",
        next_token=lambda page: page.get("nextToken"),
        alone=True,  # getReports: the token must be the only parameter
    ):
        for report in page.get("reports", ()):
            yield _report(report)


def get_report(client: SpApiClient, report_id: str) -> ReportInfo:
    return _report(get_json(client, "getReport", f"/reports/2021-06-30/reports/{report_id}"))


def create_report(
    client: SpApiClient, report_type: str, marketplace_ids: Iterable[str], **times: datetime
) -> str:
    body: dict[str, Any] = {"reportType": report_type, "marketplaceIds": list(marketplace_ids)}
    for name, value in times.items():  # data_start_time / data_end_time
        parts = name.split("_")
        body[parts[0] + "".join(p.title() for p in parts[1:])] = iso(value)
    response = client.transport.call("createReport", "POST", "/reports/2021-06-30/reports", body=body)
    return str(parse_json(response)["reportId"])


def download_report(client: SpApiClient, report_id: str) -> bytes:
    """The report's document, fetched right after getReportDocument (URLs live 5 minutes) and
    gunzipped when Amazon says GZIP. A report Amazon is still preparing is waited for, each
    wait announced (``transport.waits``) so progress says why it stands still, up to
    ``REPORT_WAIT_LIMIT``; then ``TransientError``, so the caller defers it to the next run."""
    report = wait_for_report(client, report_id)
    if not report.document_id:
        raise PermanentError(f"Amazon reports report {report_id} {report.status} without a document")
    return download_document(client, report.document_id)


def wait_for_report(client: SpApiClient, report_id: str) -> ReportInfo:
    """getReport until the report leaves IN_QUEUE / IN_PROGRESS (polls 15 s, doubling to 120 s)."""
    waited, pause = 0.0, 15.0
    report = get_report(client, report_id)
    while report.status in PREPARING:
        if waited >= REPORT_WAIT_LIMIT:
            raise TransientError(
                f"report {report_id} is still being prepared by Amazon ({report.status}) after "
                f"{waited:.0f}s; the next run asks again"
            )
        announce(f"report {report_id} being prepared by Amazon ({report.status})", pause)
        client.clock.sleep(pause)
        waited += pause
        pause = min(pause * 2, 120.0)
        report = get_report(client, report_id)
    if report.status in ("CANCELLED", "FATAL"):
        raise PermanentError(f"Amazon ended report {report_id} {report.status}: it has no document")
    return report


def download_document(client: SpApiClient, document_id: str) -> bytes:
    meta = get_json(client, "getReportDocument", f"/reports/2021-06-30/documents/{document_id}")
    content = fetch_presigned(client, meta["url"], "report document download")
    return gzip.decompress(content) if meta.get("compressionAlgorithm") == "GZIP" else content


def _report(data: dict) -> ReportInfo:
    return ReportInfo(
        report_id=data["reportId"],
        report_type=data["reportType"],
        status=data["processingStatus"],
        created=mapping.timestamp(data.get("createdTime")),
        data_start=mapping.timestamp(data.get("dataStartTime")),
        data_end=mapping.timestamp(data.get("dataEndTime")),
        document_id=data.get("reportDocumentId"),
        marketplace_ids=tuple(data.get("marketplaceIds") or ()),
    )
