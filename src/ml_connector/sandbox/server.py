"""Serve an ASGI sandbox on 127.0.0.1 in a background thread (tests, demo, `sandbox serve`).

Always loopback: the sandboxes must never listen on another interface.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

LOOPBACK = "127.0.0.1"


@dataclass
class RunningServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_in_thread(app, *, port: int = 0, name: str = "sandbox") -> RunningServer:
    """Start ``app`` on 127.0.0.1:``port`` (0 picks a free port) and return once it accepts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit TCP_NODELAY: without it uvicorn's separate header/body writes meet the
    # client's delayed ACK and every loopback request costs ~40 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((LOOPBACK, port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name} sandbox did not start on {LOOPBACK}:{bound_port}")
        time.sleep(0.01)
    return RunningServer(url=f"http://{LOOPBACK}:{bound_port}", server=server, thread=thread)
