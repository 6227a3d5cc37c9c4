"""The TensorBoard tracker: a run's scalars, sample grids and config as TensorBoard events in ``RUN/tensorboard``.

Written with ``torch.utils.tensorboard`` (the ``tensorboard`` package's event format), so ``tensorboard --logdir
runs/`` shows every gankit run side by side. A resumed run continues the same folder; events the run wrote after
the checkpoint it resumes from are dropped by TensorBoard (``purge_step``), as metrics.jsonl's rows are.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gankit_core.callbacks import Callback, RunInfo, RunStatus
from gankit_core.errors import GankitError

FOLDER = "tensorboard"
SAMPLES_TAG = "samples"


def hparam_value(value: Any) -> int | float | str | bool:
    """What TensorBoard's HParams dashboard takes: numbers, strings and booleans; a list is shown as text."""
    return value if isinstance(value, int | float | str | bool) else str(value)


def config_table(run: RunInfo) -> str:
    """The resolved config and train settings as a Markdown table (TensorBoard's Text tab renders it)."""
    rows = [f"| {section}.{key} | `{value}` |" for section, table in (("config", run.config), ("train", run.train))
            for key, value in table.items()]
    return "\n".join([f"**{run.model}** ({run.run_dir})", "", "| key | value |", "| --- | --- |", *rows])


class TensorBoardTracker(Callback):
    """``--log tensorboard``: scalars at every logged step, every sample grid as an image, the config as hparams."""

    def __init__(self) -> None:
        if importlib.util.find_spec("tensorboard") is None:
            raise GankitError("--log tensorboard needs the 'tensorboard' package, which is not installed: "
                              "pip install tensorboard")
        self.writer = None

    def on_run_start(self, run: RunInfo) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        # purge_step: a resumed run's earlier events after its checkpoint's step (a run killed between checkpoints)
        # are dropped, as metrics.jsonl's rows are.
        purge = run.start_step + 1 if run.resumed else None
        self.writer = SummaryWriter(str(Path(run.run_dir) / FOLDER), purge_step=purge)
        if run.resumed:
            return  # the hparams and config text were written when the run started
        values = {f"{section}.{key}": hparam_value(value)
                  for section, table in (("config", run.config), ("train", run.train)) for key, value in table.items()}
        values["model"] = run.model
        # Written into this run's own event file (SummaryWriter.add_hparams would start a second run folder).
        for summary in hparams(values, {}):
            self.writer.file_writer.add_summary(summary)
        self.writer.add_text("config", config_table(run), run.start_step)

    def on_stage_start(self, run: RunInfo, stage: str, step: int) -> None:
        if len(run.stages) > 1:
            self.writer.add_text("stage", f"stage `{stage}` from step {step}", step)

    def on_step_end(self, run: RunInfo, step: int, metrics: Mapping[str, float]) -> None:
        for key, value in metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                self.writer.add_scalar(key, value, step)

    def on_epoch_end(self, run: RunInfo, epoch: int, step: int, metrics: Mapping[str, float]) -> None:
        for key, value in metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                self.writer.add_scalar(f"epoch/{key}", value, epoch)

    def on_sample(self, run: RunInfo, step: int, path: Path, grid) -> None:
        self.writer.add_image(SAMPLES_TAG, grid, step, dataformats="HWC")
        self.writer.flush()  # a grid is worth seeing at once in a running dashboard

    def on_run_end(self, run: RunInfo, step: int, status: RunStatus) -> None:
        if self.writer is not None:
            self.writer.add_text("status", f"{status} at step {step}", step)
            self.writer.close()
