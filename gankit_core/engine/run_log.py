"""What a run tells as it trains: metrics.jsonl rows (and TensorBoard when installed), per-epoch means and the
progress bar on the terminal."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor


def _as_tensor(value: Tensor | float) -> Tensor:
    return value.detach().float() if isinstance(value, Tensor) else torch.tensor(float(value))


class RunLog:
    """Logs every ``log_every`` steps (and the last); accumulates epoch means; writes only when ``run_dir`` is set
    (rank 0 of a run that writes)."""

    def __init__(self, run_dir: Path | None, log_every: int, batch_size: int, tensorboard: bool) -> None:
        self.run_dir = run_dir
        self.log_every = log_every
        self.batch_size = batch_size
        self.started = self.interval_start = time.perf_counter()
        self.interval_steps = 0
        self.last_values: dict[str, float] = {}
        self.epoch_sums: dict[str, Tensor] = {}
        self.epoch_steps = 0
        self.writer = self._tensorboard() if tensorboard and run_dir is not None else None

    def _tensorboard(self):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # optional: only when the tensorboard package is installed
            return None
        return SummaryWriter(str(self.run_dir / "tensorboard"))

    def write(self, row: dict[str, Any]) -> None:
        if self.run_dir is None:
            return
        with (self.run_dir / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        if self.writer is not None and "event" not in row:
            for key, value in row.items():
                if key not in ("step", "time") and isinstance(value, (int, float)) and math.isfinite(value):
                    self.writer.add_scalar(key, value, row["step"])

    def step(self, step: int, last: bool, scalars: dict[str, Tensor | float], extra: dict[str, Any]) -> str | None:
        """Account one finished step; on a logging step write its row and return the progress-bar text."""
        self.interval_steps += 1
        self.epoch_steps += 1
        for key, value in scalars.items():
            self.epoch_sums[key] = self.epoch_sums.get(key, 0) + _as_tensor(value)
        if step % self.log_every and not last:
            return None
        now = time.perf_counter()
        images_per_s = self.interval_steps * self.batch_size / max(now - self.interval_start, 1e-9)
        self.last_values = {key: float(value) for key, value in scalars.items()}
        self.write({"step": step, "time": round(now - self.started, 3), "images_per_s": round(images_per_s, 2),
                    **extra, **self.last_values})
        self.interval_start, self.interval_steps = time.perf_counter(), 0
        losses = "  ".join(f"{k} {v:.3f}" for k, v in self.last_values.items() if k.startswith("loss"))
        return f"{images_per_s:.0f} img/s  {losses}"

    def end_epoch(self, epoch: int, step: int) -> None:
        means = {key: float(total / self.epoch_steps) for key, total in self.epoch_sums.items()}
        self.write({"event": "epoch", "epoch": epoch, "step": step, **means})
        self.epoch_sums, self.epoch_steps = {}, 0

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def progress_bar(show: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    TextColumn("{task.fields[info]}"), disable=not show, transient=False)
