"""Fake ERP targets for the engine tests: deliberately non-idempotent, like an M3 "Add".

``FakeTarget`` keeps its records in memory; ``DurableTarget`` appends them to a JSON-lines file with
fsync, so a record written just before a SIGKILL is still there when the test counts.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ml_connector.errors import PermanentError, TransientError
from ml_connector.model.documents import CustomerDocument, Document


def doc(key: str) -> CustomerDocument:
    return CustomerDocument(key=key, name=f"Marketplace {key}", currency="EUR")


@dataclass
class FakeTarget:
    """Posts every call (a second post of one key makes a second record); scripted failures."""

    records: list[str] = field(default_factory=list)
    finds: int = 0
    transient_posts: dict[str, int] = field(default_factory=dict)  # key -> failures still to raise
    write_then_timeout: set[str] = field(default_factory=set)  # keys whose post writes, then times out
    permanent: dict[str, str] = field(default_factory=dict)  # key -> the ERP's message

    def find(self, document: Document) -> str | None:
        self.finds += 1
        for i, key in enumerate(self.records):
            if key == document.key:
                return f"ERP-{i + 1}"
        return None

    def find_all(self, document: Document) -> list[str]:
        return [f"ERP-{i + 1}" for i, key in enumerate(self.records) if key == document.key]

    def post(self, document: Document) -> str:
        key = document.key
        if key in self.permanent:
            raise PermanentError("refused", target_message=self.permanent[key], field="item")
        if self.transient_posts.get(key, 0) > 0:
            self.transient_posts[key] -= 1
            raise TransientError("HTTP 503", retry_after=0.0)
        self.records.append(key)
        if key in self.write_then_timeout:
            self.write_then_timeout.discard(key)
            raise TransientError("read timeout")
        return f"ERP-{len(self.records)}"

    def counts(self) -> Counter[str]:
        return Counter(self.records)


class DurableTarget:
    """An ERP whose records survive SIGKILL: one fsync'ed JSON line per post, never deduplicated."""

    def __init__(self, path: Path, *, on_written=None, delay: float = 0.0) -> None:
        self.path = Path(path)
        self.delay = delay  # a slow ERP widens the window in which two runs could collide
        self.on_written = on_written  # called after the write, before post returns (crash point)

    def _keys(self) -> list[str]:
        if not self.path.exists():
            return []
        return [json.loads(line)["key"] for line in self.path.read_text().splitlines() if line.strip()]

    def find(self, document: Document) -> str | None:
        for i, key in enumerate(self._keys()):
            if key == document.key:
                return f"ERP-{i + 1}"
        return None

    def find_all(self, document: Document) -> list[str]:
        return [f"ERP-{i + 1}" for i, key in enumerate(self._keys()) if key == document.key]

    def post(self, document: Document) -> str:
        if self.delay:
            time.sleep(self.delay)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (json.dumps({"key": document.key, "pid": os.getpid()}) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if self.on_written is not None:
            self.on_written(document.key)
        return f"ERP-{len(self._keys())}"

    def counts(self) -> Counter[str]:
        return Counter(self._keys())
