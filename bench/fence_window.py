"""The fence's remaining window: from the verified claim renewal to the request reaching the server.

Each iteration opens a posting fence on a claimed record (SQLite or PostgreSQL store), sends one
request through the project's HTTP stack (``send_with_retry``, which calls the fence right before
``client.send``) to a loopback server, and measures from the moment the renewal committed to the
moment the server saw the request: an upper bound of the window in which a stall is not caught by
the fence (the bytes leaving the socket come before the server sees them). It prints the median,
p99 and max, and their ratio to the default claim TTL.

    .venv/bin/python bench/fence_window.py [--n 300] [--store URL]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ml_connector.engine.fence import fenced
from ml_connector.engine.posting import claim_ttl_for
from ml_connector.engine.store import DEFAULT_HEARTBEAT, Store
from ml_connector.sandbox.server import serve_in_thread
from ml_connector.transport.retry import RetryPolicy, send_with_retry


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--store", default=None)
    args = parser.parse_args()
    arrivals: list[float] = []

    async def endpoint(request):  # noqa: ANN001, ANN202
        arrivals.append(time.perf_counter())
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/write", endpoint, methods=["POST"])])
    with tempfile.TemporaryDirectory() as home, serve_in_thread(app, name="fence-bench") as server:
        url = args.store or f"sqlite:///{Path(home) / 'store.sqlite3'}"
        store = Store.open(url)
        store.ensure_connection("bench")
        ttl = claim_ttl_for(DEFAULT_HEARTBEAT)
        claim = store.claim("bench", "customer", "K", flow="bench", owner="bench", ttl=ttl)
        renewed: list[float] = []

        def check() -> None:
            assert store.renew_claim(claim.record.id, "bench", ttl, claim.token)
            renewed.append(time.perf_counter())

        client = httpx.Client(timeout=60)
        policy = RetryPolicy(attempts=1)
        for _ in range(args.n):
            with fenced(check):
                send_with_retry(
                    client,
                    lambda: client.build_request("POST", f"{server.url}/write", content=b"x" * 512),
                    policy,
                )
        client.close()
        store.close()
    windows = sorted((a - r) * 1000 for r, a in zip(renewed, arrivals, strict=True))
    median, p99, worst = statistics.median(windows), windows[int(len(windows) * 0.99) - 1], windows[-1]
    ttl_ms = ttl.total_seconds() * 1000
    print(
        f"store: {url.split(':')[0]}, {len(windows)} fenced requests, claim TTL {ttl.total_seconds():.0f} s"
    )
    print(
        f"window (renewal committed -> server saw the request): median {median:.2f} ms, p99 {p99:.2f} ms, max {worst:.2f} ms"
    )
    print(f"window / claim TTL: median {median / ttl_ms:.1e}, max {worst / ttl_ms:.1e}")


if __name__ == "__main__":
    main()
