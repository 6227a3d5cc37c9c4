"""The W&B tracker, offline only: a gankit run as a Weights & Biases offline run in ``RUN/wandb``.

It never uses the network: the run is started in W&B's offline mode whatever ``WANDB_MODE`` says, and needs no
account or key. ``wandb sync RUN/wandb/offline-run-*`` uploads it later, from a machine and at a time the user
chooses. The project is ``WANDB_PROJECT`` or ``gankit``; the config, every logged step's metrics and each sample
grid go into the run's history. A resumed gankit run starts a new offline run with the same W&B run id, which
``wandb sync`` merges into one.
"""

from __future__ import annotations

import importlib.util
import math
import os
import secrets
import string
from collections.abc import Mapping
from pathlib import Path

from gankit_core.callbacks import Callback, RunInfo, RunStatus
from gankit_core.errors import GankitError

FOLDER = "wandb"  # W&B's own name for its folder, under the run directory
RUN_ID_FILE = "gankit-run-id"  # in RUN/wandb: the W&B run id a resumed run keeps
EXIT_CODES = {"finished": 0, "interrupted": 130, "failed": 1}


def new_run_id() -> str:
    """An id of the form W&B gives its runs: eight lower-case letters and digits."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


def finite_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    return {key: float(value) for key, value in metrics.items()
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)}


class WandbTracker(Callback):
    """``--log wandb``: an offline W&B run with the config, every logged step's metrics and the sample grids."""

    def __init__(self) -> None:
        if importlib.util.find_spec("wandb") is None:
            raise GankitError("--log wandb needs the 'wandb' package, which is not installed: pip install wandb")
        self.run = None

    def on_run_start(self, run: RunInfo) -> None:
        import wandb

        folder = Path(run.run_dir) / FOLDER
        folder.mkdir(exist_ok=True)
        id_file = folder / RUN_ID_FILE
        run_id = id_file.read_text().strip() if run.resumed and id_file.is_file() else new_run_id()
        id_file.write_text(run_id + "\n")
        settings = wandb.Settings(mode="offline", console="off", silent=True, x_disable_stats=True,
                                  save_code=False, disable_git=True)
        self.run = wandb.init(dir=str(run.run_dir), project=os.environ.get("WANDB_PROJECT") or "gankit",
                              name=Path(run.run_dir).name, id=run_id, mode="offline", settings=settings,
                              config={"model": run.model, "config": dict(run.config), "train": dict(run.train)},
                              tags=[run.model])

    def on_step_end(self, run: RunInfo, step: int, metrics: Mapping[str, float]) -> None:
        self.run.log(finite_metrics(metrics), step=step)

    def on_epoch_end(self, run: RunInfo, epoch: int, step: int, metrics: Mapping[str, float]) -> None:
        self.run.log({**{f"epoch/{k}": v for k, v in finite_metrics(metrics).items()}, "epoch": epoch}, step=step)

    def on_sample(self, run: RunInfo, step: int, path: Path, grid) -> None:
        import wandb

        self.run.log({"samples": wandb.Image(grid, caption=Path(path).name)}, step=step)

    def on_run_end(self, run: RunInfo, step: int, status: RunStatus) -> None:
        if self.run is not None:
            self.run.summary["gankit_status"] = status
            self.run.finish(exit_code=EXIT_CODES[status])
            self.run = None
