"""Generic inquiries over OData v4 (``{site}/t/{tenant}/api/odata/gi/``): the ``$metadata``
document schema-driven clients read at start-up (easy-acumatica builds its ``inquiries`` from
it) and the inquiry feed itself, with HTTP Basic sign-in as Acumatica's OData interface takes.

The sandbox tenant exposes one inquiry: available quantity per stock item, the GI behind the
contract's ``InventoryQuantityAvailable``.
"""

from __future__ import annotations

import base64
import binascii
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ml_connector.sandbox.acumatica.state import PASSWORD, TENANT, USERNAME, AcumaticaSandbox

INQUIRY = "InventoryQuantityAvailable"
COLUMNS = (
    ("InventoryID", "Edm.String"),
    ("QtyAvailable", "Edm.Decimal"),
    ("LastModifiedDateTime", "Edm.DateTimeOffset"),
)


def metadata_xml() -> str:
    key_only = ' Nullable="false"'
    properties = "".join(
        f'<Property Name="{escape(name)}" Type="{kind}"{key_only if name == "InventoryID" else ""}/>'
        for name, kind in COLUMNS
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">'
        "<edmx:DataServices>"
        '<Schema Namespace="Default" xmlns="http://docs.oasis-open.org/odata/ns/edm">'
        f'<EntityType Name="{INQUIRY}"><Key><PropertyRef Name="InventoryID"/></Key>{properties}</EntityType>'
        f'<EntityContainer Name="Default"><EntitySet Name="{INQUIRY}" EntityType="Default.{INQUIRY}"/></EntityContainer>'
        "</Schema></edmx:DataServices></edmx:Edmx>"
    )


def signed_in(request: Request) -> bool:
    """HTTP Basic with the API user (``user`` or ``user@tenant``) and the path's tenant."""
    if request.path_params.get("tenant") != TENANT:
        return False
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return user in (USERNAME, f"{USERNAME}@{TENANT}") and password == PASSWORD


def _refused() -> Response:
    return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="Acumatica OData"'})


def rows(sandbox: AcumaticaSandbox) -> list[dict[str, Any]]:
    now = sandbox.now_text()
    out = []
    for item in sorted(sandbox.records["StockItem"].values(), key=lambda r: r["InventoryID"]):
        qty: Decimal = sandbox.qty_available(item["InventoryID"])
        out.append(
            {"InventoryID": item["InventoryID"], "QtyAvailable": float(qty), "LastModifiedDateTime": now}
        )
    return out


def routes_for(sandbox: AcumaticaSandbox):
    async def metadata(request: Request) -> Response:
        if not signed_in(request):
            return _refused()
        return Response(metadata_xml(), media_type="application/xml")

    async def feed(request: Request) -> Response:
        if not signed_in(request):
            return _refused()
        name = request.path_params["name"]
        if name != INQUIRY:
            return JSONResponse(
                {"error": {"code": "", "message": f"The generic inquiry {name} was not found."}},
                status_code=404,
            )
        data = rows(sandbox)
        select = [s for s in (request.query_params.get("$select") or "").split(",") if s]
        if select:
            data = [{k: v for k, v in row.items() if k in select} for row in data]
        skip = int(request.query_params.get("$skip") or 0)
        top = request.query_params.get("$top")
        data = data[skip : skip + int(top)] if top is not None else data[skip:]
        context = f"{str(request.url).split('?')[0].rsplit('/', 1)[0]}/$metadata#{name}"
        return JSONResponse({"@odata.context": context, "value": data})

    return metadata, feed
