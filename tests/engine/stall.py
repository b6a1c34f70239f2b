"""The stall scenario's machinery: a posting worker in a forked process that stops itself (SIGSTOP)
at a chosen protocol step, so a second worker can take its key over before it is resumed.

``start_worker`` forks; the child runs ``post_one`` and never returns into pytest. It stops itself
at ``stop_at``: ``"found"`` (between ``find`` and ``post``) or ``("fenced", n)``, the n-th verified
renewal of a post (right before a request leaves: inside the remaining window). The parent waits for
the stop (``wait_stopped``), runs the second worker with its clock moved past the first one's claim
(simulated time: the stall lasts as long as the test says, without waiting for it), then resumes
the first (``resume``). Each child logs to its own file and writes its result as JSON.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from ml_connector.clock import Clock
from ml_connector.engine.posting import PostingEngine
from ml_connector.engine.store import Store
from ml_connector.transport.retry import RetryPolicy

# The claim the workers take. It is simulated time, but a live worker renews it in real time: at the
# sandboxes' 100-200x scale the default 90 s would be 0.45-0.9 s of real time, which a loaded machine can
# miss between two renewals (worker 2 once ended `pending` so). 900 s is 4.5-9 s real; the stall is
# simulated (the clock is moved, not waited), so its length costs nothing.
CLAIM_TTL = timedelta(seconds=900)


def post_one(
    url: str,
    connection: str,
    make: Callable[[Clock], tuple[Any, Any]],
    *,
    scale: float,
    advance: float,
    stop_at: str | tuple[str, int] | None,
    log_path: Path,
    result_path: Path,
) -> None:
    """The child: post one document (``make(clock) -> (document, target)``) through the engine."""
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    clock = Clock(scale)
    clock.advance(advance)
    store = Store.open(url, clock=clock)
    fenced = {"n": 0}

    def checkpoint(step: str) -> None:
        if step == "fenced":
            fenced["n"] += 1
        if stop_at == step or stop_at == (step, fenced["n"]):
            logging.getLogger("stall").info("stopping at %s", stop_at)
            os.kill(os.getpid(), signal.SIGSTOP)
            logging.getLogger("stall").info("resumed after %s", stop_at)

    document, target = make(clock)
    engine = PostingEngine(
        store,
        connection,
        flow="stall",
        retry=RetryPolicy(attempts=3, base=0.1, cap=0.5, clock=clock),
        checkpoint=checkpoint,
        claim_ttl=CLAIM_TTL,
    )
    try:
        result = engine.post(document, target)
    finally:
        close = getattr(target, "close", None)
        if callable(close):
            close()
    store.close()
    result_path.write_text(
        json.dumps({"state": result.state, "erp_id": result.erp_id, "fences": fenced["n"]})
    )


def start_worker(function: Callable[..., None], *args: Any, **kwargs: Any) -> int:
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            function(*args, **kwargs)
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    return pid


def wait_stopped(pid: int) -> None:
    _, status = os.waitpid(pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status), (
        f"the worker did not stop where asked (exit {os.waitstatus_to_exitcode(status)})"
    )


def wait_exit(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def resume(pid: int) -> int:
    os.kill(pid, signal.SIGCONT)
    return wait_exit(pid)


def stall_scenario(
    tmp_path: Path,
    url: str,
    connection: str,
    make: Callable[[Clock], tuple[Any, Any]],
    *,
    scale: float,
    stop_at: str | tuple[str, int],
) -> tuple[dict, dict, str]:
    """Worker 1 stops at ``stop_at`` past its claim, worker 2 posts, worker 1 resumes.

    Returns both workers' results and worker 1's log."""
    common = dict(scale=scale)
    w1 = start_worker(
        post_one,
        url,
        connection,
        make,
        advance=0,
        stop_at=stop_at,
        log_path=tmp_path / "worker1.log",
        result_path=tmp_path / "worker1.json",
        **common,
    )
    wait_stopped(w1)
    stall = CLAIM_TTL.total_seconds() * 2  # worker 1 is stopped twice as long as its claim
    w2 = start_worker(
        post_one,
        url,
        connection,
        make,
        advance=stall,
        stop_at=None,
        log_path=tmp_path / "worker2.log",
        result_path=tmp_path / "worker2.json",
        **common,
    )
    assert wait_exit(w2) == 0, (tmp_path / "worker2.log").read_text()
    assert resume(w1) == 0, (tmp_path / "worker1.log").read_text()
    first = json.loads((tmp_path / "worker1.json").read_text())
    second = json.loads((tmp_path / "worker2.json").read_text())
    return first, second, (tmp_path / "worker1.log").read_text()
