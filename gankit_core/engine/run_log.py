"""What a run tells as it trains: each logged step's metrics (RunLog), and the engine's own callbacks that keep
them: metrics.jsonl (MetricsFile) and report.html (RunReport); plus the progress bar on the terminal."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from gankit_core.callbacks import Callback, RunInfo, RunStatus


def _as_tensor(value: Tensor | float) -> Tensor:
    return value.detach().float() if isinstance(value, Tensor) else torch.tensor(float(value))


class RunLog:
    """Turns each finished step's scalars into the metrics of a logged step (every ``log_every`` steps, and the
    last): time, throughput, the extra values the engine adds, and the step's scalars; keeps epoch means.

    ``earlier_time``: the seconds a resumed run had trained (its last kept row's time), which its time goes on
    from, so a run's time axis is its training time whether it was interrupted or not."""

    def __init__(self, log_every: int, batch_size: int, earlier_time: float = 0.0) -> None:
        self.log_every = log_every
        self.batch_size = batch_size
        self.interval_start = time.perf_counter()
        self.started = self.interval_start - earlier_time
        self.interval_steps = 0
        self.last_values: dict[str, float] = {}
        self.epoch_sums: dict[str, Tensor] = {}
        self.epoch_steps = 0

    def step(self, step: int, last: bool, scalars: dict[str, Tensor | float],
             extra: dict[str, float]) -> dict[str, float] | None:
        """Account one finished step; on a logging step return its metrics (None on the others)."""
        self.interval_steps += 1
        self.epoch_steps += 1
        for key, value in scalars.items():
            self.epoch_sums[key] = self.epoch_sums.get(key, 0) + _as_tensor(value)
        if step % self.log_every and not last:
            return None
        now = time.perf_counter()
        images_per_s = self.interval_steps * self.batch_size / max(now - self.interval_start, 1e-9)
        self.last_values = {key: float(value) for key, value in scalars.items()}  # syncs with the device, once
        self.interval_start, self.interval_steps = time.perf_counter(), 0
        return {"time": round(now - self.started, 3), "images_per_s": round(images_per_s, 2), **extra,
                **self.last_values}

    def end_epoch(self) -> dict[str, float]:
        """The means of the epoch that just finished; starts the next."""
        means = {key: float(total / self.epoch_steps) for key, total in self.epoch_sums.items()}
        self.epoch_sums, self.epoch_steps = {}, 0
        return means


def progress_text(metrics: Mapping[str, float]) -> str:
    """The progress bar's tail: throughput and losses."""
    losses = "  ".join(f"{k} {v:.3f}" for k, v in metrics.items() if k.startswith("loss"))
    return f"{metrics['images_per_s']:.0f} img/s  {losses}"


class MetricsFile(Callback):
    """metrics.jsonl: a row per logged step (``step``, the stage's name in a staged run, the metrics), a row per
    epoch's means (``event: epoch``) and a row where each stage of a staged run begins (``event: stage``)."""

    def __init__(self, stage_of_step: Callable[[int], str] | None) -> None:
        self.stage_of_step = stage_of_step  # the stage a finished step belonged to; None: a one-stage run

    def _write(self, run: RunInfo, row: dict[str, Any]) -> None:
        with (run.run_dir / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps(row) + "\n")

    def on_stage_start(self, run: RunInfo, stage: str, step: int) -> None:
        if self.stage_of_step is not None:
            self._write(run, {"event": "stage", "stage": stage, "step": step})

    def on_step_end(self, run: RunInfo, step: int, metrics: Mapping[str, float]) -> None:
        stage = {"stage": self.stage_of_step(step - 1)} if self.stage_of_step is not None else {}
        self._write(run, {"step": step, **stage, **metrics})

    def on_epoch_end(self, run: RunInfo, epoch: int, step: int, metrics: Mapping[str, float]) -> None:
        self._write(run, {"event": "epoch", "epoch": epoch, "step": step, **metrics})


class RunReport(Callback):
    """report.html at the end of a run that trained a step (curves, grids and ``summary``, with its step count)."""

    def __init__(self, summary: dict[str, str]) -> None:
        self.summary = summary

    def on_run_end(self, run: RunInfo, step: int, status: RunStatus) -> None:
        if status == "failed" and step == run.start_step:
            return  # nothing trained (the first step failed): a fresh run's folder is taken back
        from gankit_core.engine.report import write_report

        summary = {"model": run.model, "steps": str(step), **self.summary}
        if status != "finished":
            summary["ended"] = f"{status} at step {step}"
        write_report(run.run_dir, f"gankit run: {run.model}", summary)


def progress_bar(show: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    TextColumn("{task.fields[info]}"), disable=not show, transient=False)
