"""Batches from a dataset: a seeded shuffle per epoch, sharded across data-parallel ranks, prefetched.

The whole position is (epoch, cursor), so a checkpoint restores the data order exactly. While the
caller trains on one batch, the next is read in a background thread (a folder's images come from
disk), so loading overlaps the step; the position reported is always that of the batches handed out.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import torch

from gankit_core.data import Dataset
from gankit_core.errors import ConfigError, DataError


class BatchLoader:
    def __init__(self, dataset: Dataset, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 prefetch: bool = True) -> None:
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
        self._orders: dict[int, torch.Tensor] = {}
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="gankit-prefetch") if prefetch else None
        self._pending: tuple[tuple[int, int], Future] | None = None

    @property
    def batches_per_epoch(self) -> int:
        return len(self.dataset) // self.batch_size

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        if epoch not in self._orders:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            self._orders = {e: o for e, o in self._orders.items() if e >= epoch - 1}  # this epoch and the one before
            self._orders[epoch] = torch.randperm(len(self.dataset), generator=generator)
        return self._orders[epoch]

    def _batch_start(self, epoch: int, cursor: int) -> tuple[int, int]:
        """Where the batch after position (epoch, cursor) starts: a new epoch when this one runs out."""
        return (epoch + 1, 0) if cursor + self.batch_size > len(self.dataset) else (epoch, cursor)

    def _indices(self, epoch: int, cursor: int) -> torch.Tensor:
        """This rank's share of the global batch at (epoch, cursor)."""
        global_batch = self._epoch_order(epoch)[cursor : cursor + self.batch_size]
        return global_batch[self.rank * self.local_batch : (self.rank + 1) * self.local_batch]

    def next(self) -> dict[str, torch.Tensor]:
        """This rank's share of the next global batch; a new shuffle when an epoch runs out."""
        start = self._batch_start(self.epoch, self.cursor)
        if self._pending is not None and self._pending[0] == start:
            batch = self._pending[1].result()
        else:
            batch = self.dataset.take(self._indices(*start))
        self._pending = None
        self.epoch, self.cursor = start[0], start[1] + self.batch_size
        if self._reader is not None:
            following = self._batch_start(self.epoch, self.cursor)
            self._pending = (following, self._reader.submit(self.dataset.take, self._indices(*following)))
        return batch

    @property
    def epoch_finished(self) -> bool:
        """True right after the last full batch of an epoch was handed out."""
        return self.cursor + self.batch_size > len(self.dataset)

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor}

    def load_state(self, state: dict[str, int]) -> None:
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])
        self._pending = None  # read for the old position: the next batch is read afresh

    def close(self) -> None:
        """Stop the prefetching thread (it also ends with the process)."""
        self._pending = None
        if self._reader is not None:
            self._reader.shutdown(wait=True)
            self._reader = None
