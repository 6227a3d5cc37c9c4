"""Engine callbacks: what happens around the training loop hangs on a handful of named moments.

A callback is one small class that overrides the moments it cares about (mmengine's ``Hook``,
Lightning's ``Callback``). The engine's own metrics log and report are callbacks; experiment trackers
(TensorBoard, MLflow, W&B) are callbacks that plugins register with the ``register_callbacks`` hook:

    @hookimpl
    def register_callbacks(register):
        register("mytracker", "gankit_mytracker.tracker:MyTracker", summary="Metrics to MyTracker")

A run selects registered callbacks by name: ``gankit run MODEL --log mytracker`` (repeatable), or
``log = ["mytracker"]`` in the ``[train]`` table of a ``--config`` file (a run's config.toml records
it, so ``gankit resume`` keeps them). The factory is called once per run with no arguments and
returns a ``Callback``; a factory that raises a ``GankitError`` (a tracker whose package is missing)
stops the run before it trains, with that one line.

The moments, in the order a run meets them (only rank 0 of a run that writes a run directory calls
them; each gets the run's ``RunInfo`` first):

- ``on_run_start(run)``: the run directory and config.toml exist; nothing is trained yet.
- ``on_stage_start(run, stage, step)``: training of a stage begins at global step ``step`` (a stage's
  first step, or the step a resumed run starts from; a one-stage model has one stage, ``train``).
- ``on_step_end(run, step, metrics)``: at every logged step (``--log-every``, and the last step), the
  row metrics.jsonl gets: losses and scores, ``time``, ``images_per_s``, ``lr`` and, after a skipped
  step, ``skipped_steps``. ``step`` counts finished steps from 1.
- ``on_epoch_end(run, epoch, step, metrics)``: for a model that logs epochs, the epoch's means.
- ``on_sample(run, step, path, grid)``: a sample grid was written to ``path``; ``grid`` is its
  H x W x 3 uint8 array.
- ``on_checkpoint(run, step, path)``: a checkpoint was written to ``path`` (and ``latest`` points to it).
- ``on_stage_end(run, stage, step)``: the stage's last step is done (or a finished run stopped inside
  it); an interrupted or failed run gets ``on_run_end`` only.
- ``on_run_end(run, step, status)``: always, once; ``status`` is ``"finished"``, ``"interrupted"``
  (Ctrl-C or SIGTERM; the last checkpoint and grid are written) or ``"failed"`` (the run raised, e.g.
  the NaN guard stopped it). The engine's report.html is written before selected callbacks are told,
  so a tracker can store it.

A selected callback that raises is isolated as a broken plugin is: one warning naming it and the
moment, it is not called again in this run, and the run goes on with nothing lost (the engine's
metrics, grids and checkpoints do not depend on it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gankit_core.errors import ConfigError, GankitError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["RUN_STATUSES", "Callback", "ConsoleLog", "RunEvents", "RunInfo", "RunStatus", "check_callback_names",
           "select_callbacks"]

KIND = "callback"
RunStatus = Literal["finished", "interrupted", "failed"]
RUN_STATUSES: tuple[RunStatus, ...] = ("finished", "interrupted", "failed")


@dataclass(frozen=True)
class RunInfo:
    """What a callback knows of the run it watches (read-only)."""

    run_dir: Path
    model: str
    config: Mapping[str, Any]  # the model's resolved config: config.toml's [config] table
    total_steps: int  # the step the run trains to
    start_step: int  # 0 for a fresh run, the checkpoint's step for a resumed one
    rank: int = 0
    world_size: int = 1
    train: Mapping[str, Any] = field(default_factory=dict)  # the engine settings: config.toml's [train] table
    stages: tuple[str, ...] = ("train",)  # the model's stages, in order
    device: str = "cpu"  # the device rank 0 trains on ("cpu", "cuda:0")
    precision: str = "fp32"  # the resolved precision: fp32, bf16 or fp16

    @property
    def resumed(self) -> bool:
        return self.start_step > 0


class Callback:
    """Override the moments you need; every moment does nothing by default (see the module docstring)."""

    def on_run_start(self, run: RunInfo) -> None:
        """The run directory exists; training has not started."""

    def on_stage_start(self, run: RunInfo, stage: str, step: int) -> None:
        """Training of ``stage`` begins at global step ``step``."""

    def on_step_end(self, run: RunInfo, step: int, metrics: Mapping[str, float]) -> None:
        """A logged step finished; ``metrics`` is its metrics.jsonl row without ``step``."""

    def on_epoch_end(self, run: RunInfo, epoch: int, step: int, metrics: Mapping[str, float]) -> None:
        """An epoch (counted from 1) finished at ``step``; ``metrics`` are its means (models that log epochs)."""

    def on_sample(self, run: RunInfo, step: int, path: Path, grid: np.ndarray) -> None:
        """A sample grid (H x W x 3 uint8) was written to ``path``."""

    def on_checkpoint(self, run: RunInfo, step: int, path: Path) -> None:
        """A checkpoint was written to ``path``."""

    def on_stage_end(self, run: RunInfo, stage: str, step: int) -> None:
        """Training of ``stage`` ended at global step ``step``."""

    def on_run_end(self, run: RunInfo, step: int, status: RunStatus) -> None:
        """The run ended at ``step`` with ``status`` finished, interrupted or failed."""


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class RunEvents:
    """One run's callbacks, told of each moment: the engine's own first, then the selected ones, in order.

    The engine's (``engine``) raise like any engine code: a metrics file that cannot be written is the run's
    error. A selected one (``selected``, by name) that raises is warned about once, on stderr, and not called
    again in this run. With no ``run`` (a rank other than 0, or a run that writes nothing) nothing is called.
    """

    def __init__(self, run: RunInfo | None = None, engine: Iterable[Callback] = (),
                 selected: Iterable[tuple[str, Callback]] = ()) -> None:
        self.run = run
        self.engine = list(engine) if run is not None else []
        self.selected = dict(selected) if run is not None else {}
        self.disabled: dict[str, str] = {}  # name -> the warning it was turned off with

    def _each(self, moment: str, call: Callable[[Callback, RunInfo], None]) -> None:
        if self.run is None:
            return
        for callback in self.engine:
            call(callback, self.run)
        for name, callback in list(self.selected.items()):
            try:
                call(callback, self.run)
            except Exception as error:  # a tracker's bug or a lost connection must not end the training
                del self.selected[name]
                self.disabled[name] = (f"callback '{name}' raised in {moment} ({_describe(error)}); it is off "
                                       "for the rest of this run, which goes on")
                print(f"warning: {self.disabled[name]}", file=sys.stderr)

    def run_start(self) -> None:
        self._each("on_run_start", lambda c, run: c.on_run_start(run))

    def stage_start(self, stage: str, step: int) -> None:
        self._each("on_stage_start", lambda c, run: c.on_stage_start(run, stage, step))

    def step_end(self, step: int, metrics: Mapping[str, float]) -> None:
        self._each("on_step_end", lambda c, run: c.on_step_end(run, step, metrics))

    def epoch_end(self, epoch: int, step: int, metrics: Mapping[str, float]) -> None:
        self._each("on_epoch_end", lambda c, run: c.on_epoch_end(run, epoch, step, metrics))

    def sample(self, step: int, path: Path, grid: np.ndarray) -> None:
        self._each("on_sample", lambda c, run: c.on_sample(run, step, path, grid))

    def checkpoint(self, step: int, path: Path) -> None:
        self._each("on_checkpoint", lambda c, run: c.on_checkpoint(run, step, path))

    def stage_end(self, stage: str, step: int) -> None:
        self._each("on_stage_end", lambda c, run: c.on_stage_end(run, stage, step))

    def run_end(self, step: int, status: RunStatus) -> None:
        self._each("on_run_end", lambda c, run: c.on_run_end(run, step, status))


def check_callback_names(names: Iterable[str]) -> None:
    """Refuse a ``--log`` name nobody registered, naming every registered callback (every rank checks, so a
    typo stops all of them before the run directory is made)."""
    from gankit_core.plugins import get_registry

    registry = get_registry()
    unknown = [name for name in names if registry.lookup(KIND, name) is None]
    if unknown:
        known = registry.names(KIND)
        listed = ", ".join(known) if known else "none (trackers come from plugins)"
        broken = ", ".join(ref.distribution for ref, _, _ in registry.broken)
        hint = f" (plugins that failed to load: {broken}; 'gankit plugins' shows why)" if broken else ""
        raise ConfigError(f"unknown callback '{unknown[0]}' for --log; registered callbacks: {listed}{hint}")


def select_callbacks(names: Iterable[str]) -> list[tuple[str, Callback]]:
    """Build the registered callbacks ``names`` (``--log``), each once, in order.

    An unknown name is a ConfigError naming every registered callback. A factory's GankitError (a missing
    package) is the run's error; any other exception from a factory is a broken callback: one warning, and
    the run goes on without it.
    """
    from gankit_core.plugins import get_registry

    registry = get_registry()
    chosen = list(dict.fromkeys(names))
    check_callback_names(chosen)
    built: list[tuple[str, Callback]] = []
    for name in chosen:
        entry = registry.get(KIND, name)
        try:
            callback = entry.load()()
        except GankitError:
            raise
        except Exception as error:
            print(f"warning: callback '{name}' ({entry.plugin}) could not be created ({_describe(error)}); the run "
                  "goes on without it", file=sys.stderr)
            continue
        if not isinstance(callback, Callback):
            print(f"warning: callback '{name}' ({entry.plugin}) built a {type(callback).__name__}, not a "
                  "gankit_core.callbacks.Callback; the run goes on without it", file=sys.stderr)
            continue
        built.append((name, callback))
    return built


class ConsoleLog(Callback):
    """One plain line per logged step, stage, checkpoint and the run's end, on stdout: a readable log for a run
    without a terminal (a cluster job, nohup, CI), where the progress bar is off."""

    def on_run_start(self, run: RunInfo) -> None:
        start = f" from step {run.start_step}" if run.resumed else ""
        print(f"{run.model}: training to step {run.total_steps}{start} on {run.device} ({run.precision}), "
              f"{run.world_size} process(es); run directory {run.run_dir}", flush=True)

    def on_stage_start(self, run: RunInfo, stage: str, step: int) -> None:
        if len(run.stages) > 1:
            print(f"stage {stage} from step {step}", flush=True)

    def on_step_end(self, run: RunInfo, step: int, metrics: Mapping[str, float]) -> None:
        values = "  ".join(f"{key} {value:.4g}" for key, value in metrics.items() if key != "time")
        print(f"step {step}/{run.total_steps}  {values}", flush=True)

    def on_checkpoint(self, run: RunInfo, step: int, path: Path) -> None:
        print(f"checkpoint {path}", flush=True)

    def on_run_end(self, run: RunInfo, step: int, status: RunStatus) -> None:
        print(f"{run.model}: {status} at step {step}", flush=True)
