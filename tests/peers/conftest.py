"""Third-party clients as judges: python-amazon-sp-api and easy-acumatica run against our
sandboxes (127.0.0.1 only; every endpoint of the clients is pointed at the sandbox, nothing reaches
the internet). Every call the official model allows must succeed and every call it forbids must
fail the way the real service fails; the tally of judged calls is printed at the end of the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class Judge:
    """Records each judged call of one peer client: allowed calls must return, forbidden ones
    must raise the given exception carrying the real service's status."""

    peer: str
    results: list[tuple[str, bool, str]] = field(default_factory=list)

    def ok(self, name: str, call: Callable[[], Any]) -> Any:
        try:
            value = call()
        except Exception as exc:  # noqa: BLE001 - the judge records whatever the peer raised
            self.results.append((name, False, f"{type(exc).__name__}: {str(exc)[:300]}"))
            raise AssertionError(
                f"{self.peer}: {name} should succeed, raised {type(exc).__name__}: {exc}"
            ) from exc
        self.results.append((name, True, ""))
        return value

    def fails(
        self, name: str, call: Callable[[], Any], check: Callable[[BaseException], bool]
    ) -> BaseException:
        try:
            call()
        except Exception as exc:  # noqa: BLE001
            passed = check(exc)
            self.results.append((name, passed, "" if passed else f"{type(exc).__name__}: {str(exc)[:300]}"))
            assert passed, f"{self.peer}: {name} failed, but not as the real service fails: {exc!r}"
            return exc
        self.results.append((name, False, "succeeded"))
        raise AssertionError(f"{self.peer}: {name} should fail as the real service does, but succeeded")


JUDGES: dict[str, Judge] = {}


def judge_for(peer: str) -> Judge:
    return JUDGES.setdefault(peer, Judge(peer))


def pytest_terminal_summary(terminalreporter) -> None:
    if not JUDGES:
        return
    total = sum(len(j.results) for j in JUDGES.values())
    passed = sum(ok for j in JUDGES.values() for _, ok, _ in j.results)
    parts = ", ".join(
        f"{j.peer} {sum(ok for _, ok, _ in j.results)}/{len(j.results)}" for j in JUDGES.values()
    )
    terminalreporter.write_line(f"peer calls passing: {passed} of {total} ({parts})")
    for judge in JUDGES.values():
        for name, ok, why in judge.results:
            if not ok:
                terminalreporter.write_line(f"  {judge.peer} FAILED {name}: {why}")


@pytest.fixture
def judge(request) -> Judge:
    return judge_for(request.module.PEER)
