"""``GET {site}/entity/Default/{version}/swagger.json``: Acumatica's own OpenAPI document of the
endpoint (shipped gzipped in ``swagger/`` with its MIT licence), so that schema-driven clients
(easy-acumatica builds its services from it) can start against the sandbox.

Like a live instance, the document names the server it came from; nothing else is changed but
``info.license``, which carries the notice the licence asks to keep with every copy.
"""

from __future__ import annotations

import gzip
import json
import threading
from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

LICENSE_NOTICE = (
    "MIT License, Copyright (c) 2023 Acumatica: the Default endpoint's OpenAPI document as Acumatica "
    "publishes it (ml_connector/sandbox/acumatica/swagger/LICENSE)."
)
_lock = threading.Lock()
_served: dict[tuple[str, str], bytes] = {}


@cache
def shipped(version: str) -> bytes | None:
    """The shipped document of ``version`` (uncompressed), or None when none is shipped."""
    path = resources.files(__package__).joinpath("swagger", f"Default_{version}.swagger.json.gz")
    if not path.is_file():
        return None
    return gzip.decompress(path.read_bytes())


def document(version: str, endpoint_url: str) -> bytes | None:
    """The gzipped document as served at ``endpoint_url`` (built once per version and URL)."""
    with _lock:
        if (version, endpoint_url) in _served:
            return _served[(version, endpoint_url)]
    raw = shipped(version)
    if raw is None:
        return None
    data = json.loads(raw)
    data["servers"] = [{"url": endpoint_url}]
    data.setdefault("info", {})["license"] = {"name": LICENSE_NOTICE}
    body = gzip.compress(json.dumps(data, separators=(",", ":")).encode(), compresslevel=6, mtime=0)
    with _lock:
        _served[(version, endpoint_url)] = body
    return body


def accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        name, _, quality = part.strip().partition(";q=")
        if name.strip().lower() in ("gzip", "*") and quality.strip() not in ("0", "0.0", "0.00", "0.000"):
            return True
    return False


def response(request: Request, version: str, endpoint_url: str) -> Response:
    body = document(version, endpoint_url)
    if body is None:
        return JSONResponse({"message": f"No OpenAPI document for Default/{version}."}, status_code=404)
    if accepts_gzip(request):
        return Response(
            body,
            media_type="application/json",
            headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
        )
    return Response(gzip.decompress(body), media_type="application/json", headers={"Vary": "Accept-Encoding"})
