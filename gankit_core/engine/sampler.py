"""Sample grids: fixed inputs drawn once per run (the same every grid, so grids compare over time) and a PNG of
the model's display, from the EMA networks where there are, written by rank 0."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from gankit_core.images import make_grid, save_png
from gankit_core.interfaces import Model, Networks

if TYPE_CHECKING:
    from gankit_core.data import Dataset
    from gankit_core.engine.placement import Placement


class SampleWriter:
    """``networks``: what the grid is drawn with (the training networks, each inference network replaced by its
    EMA where the run keeps one); ``count`` images in all, drawn with ``seed``."""

    def __init__(self, model: Model, networks: Networks, dataset: Dataset, placement: Placement, *, count: int,
                 seed: int, folder: Path | None) -> None:
        self.model = model
        self.networks = networks
        self.dataset = dataset
        self.placement = placement
        self.count = count
        self.seed = seed
        self.folder = folder
        self._inputs: dict[str, Tensor] | None = None

    def inputs(self) -> dict[str, Tensor]:
        if self._inputs is None:
            # count images in all: a model showing rows (input, output, ...) gets one input per row.
            rows = min(max(1, self.count // (self.model.sample_columns or 1)), len(self.dataset))
            generator = torch.Generator().manual_seed(self.seed)
            batch = self.placement.prepare_batch(self.dataset.take(torch.arange(rows)))
            inputs = self.model.sample_inputs(rows, batch, generator)
            self._inputs = {key: value.to(self.placement.device) for key, value in inputs.items()}
        return self._inputs

    @torch.no_grad()
    def generate(self) -> Tensor:
        """The grid's images; networks in eval mode meanwhile, their modes restored after."""
        inputs = self.inputs()  # drawn outside eval mode and autocast, once per run
        modes = {name: module.training for name, module in self.networks.items()}
        for module in self.networks.values():
            module.eval()
        try:
            with self.placement.precision.autocast():
                return self.model.sample(self.networks, inputs).float()
        finally:
            for name, module in self.networks.items():
                module.train(modes[name])

    def write(self, stem: str) -> tuple[Path, np.ndarray] | None:
        """Write ``samples/STEM.png``; returns its path and H x W x 3 uint8 grid (None when the run writes nothing)."""
        if self.folder is None:
            return None
        grid = make_grid(self.generate(), self.model.sample_columns)
        return save_png(grid, self.folder / f"{stem}.png"), grid
