"""A posting run in its own process, for the crash and concurrency tests.

Usage: python crash_worker.py CONFIG_JSON. The config names the database, the durable target's file,
the keys, and optionally a protocol step and a key at which the process SIGKILLs itself (a real
kill: no exception handler, no finally block, no flush runs). ``clock_advance`` moves this process's
clock forward, as if it started after earlier runs' claims and leases had expired.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from fakes import DurableTarget, doc  # noqa: E402

from ml_connector.clock import Clock  # noqa: E402
from ml_connector.engine.posting import PostingEngine  # noqa: E402
from ml_connector.engine.store import Store  # noqa: E402
from ml_connector.transport.retry import RetryPolicy  # noqa: E402


def main(config: dict, ready=None) -> list[str]:
    """``ready()`` is called once the process could post (store open, engine built): a start
    barrier, so that racing processes really start together."""
    clock = Clock()
    clock.advance(config.get("clock_advance", 0))
    store = Store.open(config["url"], clock=clock)
    kill_step, kill_key = config.get("kill_step"), config.get("kill_key")
    current = {"key": None}

    def die_if(step: str) -> None:
        if step == kill_step and current["key"] == kill_key:
            os.kill(os.getpid(), signal.SIGKILL)

    target = DurableTarget(
        Path(config["target"]),
        on_written=lambda key: die_if("target_written"),
        delay=config.get("delay", 0.0),
    )
    engine = PostingEngine(
        store,
        config["connection"],
        flow=config.get("flow", "orders"),
        retry=RetryPolicy(attempts=3, base=0.001, cap=0.001, clock=Clock(scale=1000.0)),
        checkpoint=die_if,
        claim_ttl=timedelta(seconds=config.get("claim_ttl", 60)),
    )
    results = []
    if ready is not None:
        ready()
    if config.get("lease", True):
        with store.run(config["connection"], config.get("flow", "orders"), ttl=timedelta(seconds=60)):
            for key in config["keys"]:
                current["key"] = key
                results.append(engine.post(doc(key), target, source={"key": key}).state)
    else:
        for key in config["keys"]:
            current["key"] = key
            results.append(engine.post(doc(key), target, source={"key": key}).state)
    store.close()
    return results


def run_forked(config: dict) -> tuple[int, list[str] | None]:
    """Run ``main`` in a forked child (fast: imports are inherited); (exit code, results).

    The exit code is negative for a signal, as with subprocess: -9 means SIGKILL.
    """
    return wait_forked(start_forked(config))


def start_forked(config: dict, ready=None) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read_fd)
        code = 0
        try:
            os.write(write_fd, json.dumps(main(config, ready)).encode())
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    return pid, read_fd


def wait_forked(child: tuple[int, int]) -> tuple[int, list[str] | None]:
    pid, read_fd = child
    with os.fdopen(read_fd, "rb") as pipe:
        output = pipe.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), (json.loads(output) if output else None)


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
