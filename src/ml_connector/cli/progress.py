"""Rich progress bars for long work; silent when the output is not a terminal."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class RichProgress:
    """Implements flows.context.Progress: one bar per flow run."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._description = ""
        self._waiting = False
        self._unlisten: Callable[[], None] | None = None

    def start(self, description: str, total: int | None = None) -> None:
        if not self.console.is_terminal:
            return
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self._progress.start()
        self._description = description
        self._task = self._progress.add_task(description, total=total)
        from ml_connector.transport.waits import listen

        self._unlisten = listen(self._waiting_for)

    def _waiting_for(self, reason: str, seconds: float) -> None:
        """A long wait names itself on the bar until the next step ("waiting ~40s: ...")."""
        if self._progress is not None and self._task is not None:
            self._waiting = True
            self._progress.update(
                self._task, description=f"{self._description}: waiting ~{seconds:.0f}s, {reason}"
            )

    def advance(self, steps: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            if self._waiting:
                self._waiting = False
                self._progress.update(self._task, description=self._description)
            self._progress.advance(self._task, steps)

    def finish(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
