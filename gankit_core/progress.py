"""Progress for long work (training, first-time rendering, preparing a folder, finding faces, evaluation,
translating a folder), on stderr and only when stderr is a terminal: piped or logged output stays clean. The one
way gankit shows progress: ``Steps``."""

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
    """A progress bar over ``total`` units of work (``completed`` of them done already), with a line of ``info``
    after it (a rate, the latest losses): ``advance(n)`` after each part, or ``update(completed)``. Nothing is shown
    off a terminal, or when ``show`` is false (a single image's work, not worth a bar). The bar goes when the work
    is done, unless ``transient`` is false (a training run's stays as its record)."""

    def __init__(self, description: str, total: int, show: bool = True, transient: bool = True,
                 completed: int = 0) -> None:
        self._progress = None
        if show and shows_progress():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                                      console=Console(stderr=True), transient=transient)
            self._task = self._progress.add_task(description, total=total, completed=completed, info="")

    def __enter__(self) -> Steps:
        if self._progress is not None:
            self._progress.start()
        return self

    def advance(self, amount: int = 1, info: str | None = None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=amount, **({"info": info} if info is not None else {}))

    def update(self, completed: int, info: str | None = None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=completed, **({"info": info} if info is not None else {}))

    def describe(self, description: str) -> None:
        """A new title for the bar (a training run's stage, say)."""
        if self._progress is not None:
            self._progress.update(self._task, description=description)

    def __exit__(self, *exc_info) -> None:
        if self._progress is not None:
            self._progress.stop()
