"""Reports 2021-06-30: getReports (settlement reports Amazon made), createReport for requestable
types, getReport, getReportDocument, and the presigned, expiring, gzipped download."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from ml_connector.sandbox.amazon import views
from ml_connector.sandbox.amazon.http import (
    ApiError,
    bad_input,
    csv,
    decode_token,
    encode_token,
    int_param,
    json_body,
    origin,
    parse_time,
)
from ml_connector.sandbox.amazon.state import DOCUMENT_URL_LIFETIME, IssuedToken, SandboxReport, SandboxState

STATUSES = {"CANCELLED", "DONE", "FATAL", "IN_PROGRESS", "IN_QUEUE"}
NOT_REQUESTABLE = {
    "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2",
    "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE",
    "GET_V2_SETTLEMENT_REPORT_DATA_XML",
}
ORDER_REPORT = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"


def report_json(report: SandboxReport, now: float) -> dict:
    status = report.status(now)
    data: dict = {
        "reportId": report.report_id,
        "reportType": report.report_type,
        "marketplaceIds": report.marketplace_ids,
        "createdTime": views.iso(report.created),
        "processingStatus": status,
    }
    if report.data_start:
        data["dataStartTime"] = views.iso(report.data_start)
    if report.data_end:
        data["dataEndTime"] = views.iso(report.data_end)
    if status != "IN_QUEUE":
        data["processingStartTime"] = views.iso(report.created)
    if status == "DONE":
        data["processingEndTime"] = views.iso(report.created + timedelta(seconds=report.work_seconds))
        data["reportDocumentId"] = report.document_id
    return data


async def get_reports(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    next_token = request.query_params.get("nextToken")
    if next_token:
        if len(request.query_params) > 1:
            raise bad_input("nextToken must be the only parameter when it is given.")
        offset, saved = decode_token(next_token, None)
        query = saved.get("q", {})
    else:
        offset = 0
        query = {
            "reportTypes": csv(request, "reportTypes"),
            "processingStatuses": csv(request, "processingStatuses"),
            "marketplaceIds": csv(request, "marketplaceIds"),
            "pageSize": int_param(request, "pageSize", 10, 1, 100),
            "createdSince": request.query_params.get("createdSince"),
            "createdUntil": request.query_params.get("createdUntil"),
        }
        if not 1 <= len(query["reportTypes"]) <= 10:
            raise bad_input("reportTypes (1 to 10 values) or nextToken is required.")
        if set(query["processingStatuses"]) - STATUSES:
            raise bad_input("Invalid processingStatuses.")
    now = state.clock.monotonic()
    since = parse_time(query["createdSince"], "createdSince") or state.clock.now() - timedelta(days=90)
    until = parse_time(query["createdUntil"], "createdUntil") or state.clock.now()
    reports = [
        r
        for r in state.reports.values()
        if r.report_type in query["reportTypes"]
        and (not query["processingStatuses"] or r.status(now) in query["processingStatuses"])
        and (not query["marketplaceIds"] or set(r.marketplace_ids) & set(query["marketplaceIds"]))
        and since <= r.created <= until
    ]
    reports.sort(key=lambda r: (r.created, r.report_id), reverse=True)
    size = query["pageSize"]
    body: dict = {"reports": [report_json(r, now) for r in reports[offset : offset + size]]}
    if offset + size < len(reports):
        body["nextToken"] = encode_token(offset + size, "", {"q": query})
    return body


async def create_report(request: Request, state: SandboxState, token: IssuedToken) -> tuple[int, dict]:
    body = await json_body(request)
    report_type = body.get("reportType")
    markets = body.get("marketplaceIds")
    if not report_type or not isinstance(markets, list) or not markets:
        raise bad_input("reportType and marketplaceIds are required.")
    if report_type in NOT_REQUESTABLE:
        raise bad_input(
            f"Report type {report_type} cannot be requested; Amazon generates it per settlement period."
        )
    if report_type != ORDER_REPORT:
        raise bad_input(f"The sandbox does not produce {report_type}.")
    start = parse_time(body.get("dataStartTime"), "dataStartTime") or state.clock.now() - timedelta(days=30)
    end = parse_time(body.get("dataEndTime"), "dataEndTime") or state.clock.now()
    rows = [
        "amazon-order-id\tmerchant-order-id\tpurchase-date\tlast-updated-date\torder-status\tfulfillment-channel\tsku\tasin\tquantity\tcurrency\titem-price"
    ]
    for order in state.orders:
        if order.marketplace.marketplace_id in markets and start <= order.last_updated < end:
            for item in order.items:
                rows.append(
                    "\t".join(
                        (
                            order.order_id,
                            order.seller_order_id,
                            views.iso(order.purchase),
                            views.iso(order.last_updated),
                            order.status,
                            "Amazon" if order.channel == "AFN" else "Merchant",
                            item.product.sku,
                            item.product.asin,
                            str(item.quantity),
                            order.currency,
                            format(item.item_price, "f"),
                        )
                    )
                )
    report_id = state.next_id() + "020"
    state.reports[report_id] = SandboxReport(
        report_id=report_id,
        report_type=report_type,
        marketplace_ids=list(markets),
        created=state.clock.now(),
        queued_at=state.clock.monotonic(),
        queue_seconds=60,
        work_seconds=240,
        document_id=state.add_document(
            ("\n".join(rows) + "\n").encode(), "text/plain; charset=UTF-8", gzip_it=True
        ),
        data_start=start,
        data_end=end,
    )
    return 202, {"reportId": report_id}


async def get_report(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    report = state.reports.get(request.path_params["reportId"])
    if report is None:
        raise ApiError(404, "NotFound", "Report not found.")
    return report_json(report, state.clock.monotonic())


def _presigned(request: Request, state: SandboxState, document_id: str) -> str:
    expires = state.clock.monotonic() + DOCUMENT_URL_LIFETIME
    return f"{origin(request)}/_sandbox/documents/{document_id}?expires={expires:.0f}"


async def get_report_document(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    document_id = request.path_params["reportDocumentId"]
    now = state.clock.monotonic()
    if not any(r.document_id == document_id and r.status(now) == "DONE" for r in state.reports.values()):
        raise ApiError(404, "NotFound", "Report document not found.")
    return {
        "reportDocumentId": document_id,
        "url": _presigned(request, state, document_id),
        "compressionAlgorithm": "GZIP",
    }


async def download(request: Request) -> Response:
    """The presigned URL: no SP-API token; refused once it has expired (S3's XML error)."""
    state: SandboxState = request.app.state.sandbox
    document = state.documents.get(request.path_params["documentId"])
    expires = float(request.query_params.get("expires", "0"))
    if document is None:
        return Response("<Error><Code>NoSuchKey</Code></Error>", 404, media_type="application/xml")
    if state.clock.monotonic() > expires:
        return Response(
            "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
            403,
            media_type="application/xml",
        )
    content, content_type = document
    return Response(content, 200, media_type=content_type)
