"""Sample grids: fixed inputs drawn once per run (the same every grid, so grids compare over time) and a PNG of
the model's display, written by rank 0."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from gankit_core.images import save_grid

if TYPE_CHECKING:
    from gankit_core.engine.trainer import Trainer


class SampleWriter:
    def __init__(self, trainer: Trainer, run_dir: Path | None) -> None:
        self.trainer = trainer
        self.run_dir = run_dir
        self._inputs: dict[str, torch.Tensor] | None = None

    def inputs(self) -> dict[str, torch.Tensor]:
        if self._inputs is None:
            trainer = self.trainer
            # num_samples images in all: a model showing rows (input, output, ...) gets one input per row.
            count = min(max(1, trainer.settings.num_samples // (trainer.model.sample_columns or 1)), len(trainer.dataset))
            generator = torch.Generator().manual_seed(trainer.settings.seed + 2)
            batch = trainer.prepare_batch(trainer.dataset.take(torch.arange(count)))
            inputs = trainer.model.sample_inputs(count, batch, generator)
            self._inputs = {key: value.to(trainer.device) for key, value in inputs.items()}
        return self._inputs

    def write(self, stem: str) -> None:
        if self.run_dir is None:
            return
        images = self.trainer.generate(self.inputs())
        save_grid(images, self.run_dir / "samples" / f"{stem}.png", self.trainer.model.sample_columns)
