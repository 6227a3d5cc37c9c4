"""The two things that end a run early: non-finite losses (the NaN guard) and Ctrl-C/SIGTERM (a stop request)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from gankit_core.errors import GankitError


class TrainingInterrupted(GankitError):
    exit_code = 130


class TrainingDiverged(GankitError):
    pass


class NonFiniteLoss(Exception):
    """A loss was NaN or Inf on some rank; every rank skips the rest of the step (the NaN guard counts it)."""


class NaNGuard:
    """Counts steps skipped for a NaN/Inf loss; too many in a row ends the run, naming the last good checkpoint."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.skipped = 0
        self.in_a_row = 0
        self.last_good: Path | None = None

    def passed(self) -> None:
        self.in_a_row = 0

    def skip(self, loss_name: str, step: int) -> None:
        self.skipped += 1
        self.in_a_row += 1
        if self.in_a_row >= self.patience:
            where = f"; the last good checkpoint is {self.last_good}" if self.last_good else ""
            raise TrainingDiverged(f"training diverged: the '{loss_name}' loss was NaN/Inf in {self.in_a_row} steps "
                                   f"in a row (step {step}){where}")

    @property
    def healthy(self) -> bool:
        """No checkpoint during a run of non-finite steps: the last good one must survive."""
        return self.in_a_row == 0


class StopSignal:
    """Turns the first Ctrl-C/SIGTERM into a request to stop after the current step; a second one aborts."""

    def __init__(self) -> None:
        self.received: int | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def request_stop(signum, frame):
            self.received = signum
            for sig, handler in previous.items():  # the second signal goes to the previous handler
                signal.signal(sig, handler)

        for sig in previous:
            signal.signal(sig, request_stop)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def error(self, step: int, run_dir: Path | None) -> TrainingInterrupted:
        name = "Ctrl-C" if self.received == signal.SIGINT else "SIGTERM"
        where = f"; resume with: gankit resume {run_dir}" if run_dir else ""
        return TrainingInterrupted(f"stopped by {name} at step {step}, checkpoint saved{where}")


class FirstStepFailed(GankitError):
    """A model's first training step raised: usually a network that does not fit the config (an image size its
    layers cannot take). The message names the model, the network and its input shapes; ``--debug`` shows the
    traceback."""


def _shapes(values) -> str:
    import torch

    shapes = [" x ".join(map(str, v.shape)) for v in values if isinstance(v, torch.Tensor)]
    return ", ".join(shapes) if shapes else "no tensors"


@contextlib.contextmanager
def first_step_named(model_name: str, networks: dict, batch: dict) -> Iterator[None]:
    """Run the first step with each network's entry recorded, so a failure inside one is reported as
    'model M, network N (Type) on input S: reason' instead of a bare traceback from deep inside it."""
    running: list[tuple[str, str, str]] = []  # networks entered and not yet left, innermost last
    handles = []
    for name, network in networks.items():
        def enter(module, args, name=name):
            running.append((name, type(getattr(module, "_orig_mod", module)).__name__, _shapes(args)))

        def leave(module, args, output):
            if running:
                running.pop()

        handles += [network.register_forward_pre_hook(enter), network.register_forward_hook(leave)]
    try:
        yield
    except (GankitError, NonFiniteLoss):  # already a user message, or the NaN guard's to handle
        raise
    except Exception as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        reason = f"{type(error).__name__}: {reason}" if reason else type(error).__name__
        if running:
            name, kind, shapes = running[-1]
            where = f"network '{name}' ({kind}) failed on input {shapes}"
        else:
            where = "its training step failed outside the networks"
        images = _shapes([batch["image"]]) if "image" in batch else _shapes(batch.values())
        raise FirstStepFailed(f"model '{model_name}', first training step (batch images {images}): {where}: "
                              f"{reason} (run with --debug for the traceback)") from error
    finally:
        for handle in handles:
            handle.remove()
