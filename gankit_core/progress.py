"""Progress for long waits outside training (first-time rendering, evaluation, compiling), on stderr and only
when stderr is a terminal: piped or logged output stays clean."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


def shows_progress() -> bool:
    return sys.stderr.isatty()


@contextlib.contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner with ``message`` while the block runs (nothing when stderr is not a terminal)."""
    if not shows_progress():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


class Steps:
    """A progress bar over ``total`` units of work: ``advance(n)`` after each part (nothing off a terminal)."""

    def __init__(self, description: str, total: int) -> None:
        self._progress = None
        if shows_progress():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self._task = self._progress.add_task(description, total=total)

    def __enter__(self) -> Steps:
        if self._progress is not None:
            self._progress.start()
        return self

    def advance(self, amount: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, amount)

    def __exit__(self, *exc_info) -> None:
        if self._progress is not None:
            self._progress.stop()
