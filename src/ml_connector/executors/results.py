"""A queued run's summary, kept in the store for `sync --queue`, which waits in another process.

procrastinate keeps no return values, so the worker writes each run's summary under the pair
(cursor ``queued-run:<flow>`` of the connection: one row per pair, overwritten by its next run) with
the job's id; the waiting `sync --queue` reads it back once the job has ended and prints the same
lines an inline `sync` prints.
"""

from __future__ import annotations

import json
from collections import Counter

from ml_connector.engine.store import Store
from ml_connector.flows.context import FlowSummary

CURSOR = "queued-run:{flow}"


def keep(store: Store, summary: FlowSummary, job_id: int) -> None:
    payload = {
        "job": job_id,
        "counts": dict(summary.counts),
        "notes": list(summary.notes),
        "facts": summary.facts,
    }
    text = json.dumps(payload, default=str)  # facts hold Decimals and dates: their text is enough
    store.set_cursor(summary.connection, CURSOR.format(flow=summary.flow), text)


def read(store: Store, connection: str, flow: str, job_id: int) -> FlowSummary | None:
    """The summary of that job's run, or None (not written, or a later run of the pair's since)."""
    text = store.get_cursor(connection, CURSOR.format(flow=flow))
    if not text:
        return None
    payload = json.loads(text)
    if payload.get("job") != job_id:
        return None
    return FlowSummary(
        flow,
        connection,
        counts=Counter(payload.get("counts") or {}),
        notes=list(payload.get("notes") or []),
        facts=dict(payload.get("facts") or {}),
    )
