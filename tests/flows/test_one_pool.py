"""One HTTP connection pool per process and host: a `sync all` over the demo's two connections
builds at most one httpx.Client per sandbox host (it built 28 before transport/pool.py)."""

from __future__ import annotations

import httpx

from ml_connector.flows.runner import sync
from ml_connector.transport import pool


def test_sync_all_builds_at_most_one_client_per_host(deployment, store, monkeypatch):
    built: list[int] = []
    original = httpx.Client.__init__

    def counting(self, *args, **kwargs):  # every httpx.Client, pooled or not
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(httpx.Client, "__init__", counting)
    pool.close_all()  # start cold, as a new process does
    summaries = sync(store, deployment.config, clock=deployment.clock)
    hosts = {pool.key_of(server.url) for server in deployment.servers.values()}
    assert summaries and len(hosts) == 3
    assert len(built) <= len(hosts), f"{len(built)} httpx.Client built for {len(hosts)} hosts"
    assert pool.clients_built() >= len(built)
