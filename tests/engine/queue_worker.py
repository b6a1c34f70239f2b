"""A queue worker (the pieces `ml-connector worker` is made of) with the crash tests' hooks.

Usage: python queue_worker.py CONFIG_JSON, in a deployment's environment (home, config, master key).
``kill_step`` / ``kill_connection`` / ``kill_flow`` / ``kill_nth``: the process SIGKILLs itself (a real
kill: no handler, no finally) at the n-th time the posting protocol reaches that step in a run of that
pair, e.g. ``posted``: the ERP has the record, the store has not recorded it. ``clock_advance`` moves
this worker's store clock forward (as crash_worker.py does), as if it started after the dead worker's
claims had lapsed; procrastinate's own heartbeats stay on the database's real clock.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

from ml_connector.clock import Clock
from ml_connector.config import load_config
from ml_connector.engine.store import Store
from ml_connector.executors.queue import QueueExecutor, WorkerContext


def main(options: dict) -> None:
    config = load_config()
    clock = Clock()
    clock.advance(options.get("clock_advance", 0))
    store = Store.open(config.store_url, clock=clock)
    here = threading.local()
    seen = {"n": 0}
    victim = (options.get("kill_connection"), options.get("kill_flow"))

    def die_at(step: str) -> None:
        if step != options.get("kill_step") or getattr(here, "pair", None) != victim:
            return
        seen["n"] += 1
        if seen["n"] >= options.get("kill_nth", 1):
            print(f"SIGKILL at {step} #{seen['n']} of {victim[0]}:{victim[1]}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    class Context(WorkerContext):
        def run(self, connection: str, flow: str, job_id: int | None = None) -> dict:
            here.pair = (connection, flow)
            return super().run(connection, flow, job_id)

    context = Context(
        store,
        config,
        Clock(config.time_scale),
        on_summary=lambda summary: print(summary.line(), flush=True),
        heartbeat_timeout=config.run.heartbeat.total_seconds(),
        checkpoint=die_at,
    )
    url = store.engine.url.render_as_string(hide_password=False)
    executor = QueueExecutor(url, context, dispatch_every=1)
    print("worker started", flush=True)
    executor.work(concurrency=options.get("concurrency", 1))
    store.close()


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
