"""Batches from an in-memory dataset: a seeded shuffle per epoch, sharded across data-parallel ranks.

The whole position is (epoch, cursor), so a checkpoint restores the data order exactly.
"""

from __future__ import annotations

import torch

from gankit_core.data import Dataset
from gankit_core.errors import ConfigError, DataError


class BatchLoader:
    def __init__(self, dataset: Dataset, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        if batch_size % world_size:
            raise ConfigError(f"batch_size {batch_size} does not split evenly over {world_size} processes")
        if len(dataset) < batch_size:
            raise DataError(f"dataset '{dataset.name}' has {len(dataset)} images, fewer than one batch of {batch_size}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.local_batch = batch_size // world_size
        self.rank = rank
        self.seed = seed
        self.epoch = 0
        self.cursor = 0
        self._order: torch.Tensor | None = None

    @property
    def batches_per_epoch(self) -> int:
        return len(self.dataset) // self.batch_size

    def _epoch_order(self) -> torch.Tensor:
        if self._order is None:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            self._order = torch.randperm(len(self.dataset), generator=generator)
        return self._order

    def next(self) -> dict[str, torch.Tensor]:
        """This rank's share of the next global batch; a new shuffle when an epoch runs out."""
        if self.cursor + self.batch_size > len(self.dataset):
            self.epoch += 1
            self.cursor = 0
            self._order = None
        global_batch = self._epoch_order()[self.cursor : self.cursor + self.batch_size]
        self.cursor += self.batch_size
        mine = global_batch[self.rank * self.local_batch : (self.rank + 1) * self.local_batch]
        return self.dataset.take(mine)

    @property
    def epoch_finished(self) -> bool:
        """True right after the last full batch of an epoch was handed out."""
        return self.cursor + self.batch_size > len(self.dataset)

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor}

    def load_state(self, state: dict[str, int]) -> None:
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])
        self._order = None
