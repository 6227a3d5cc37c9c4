"""``gankit bench``: time a model's training step through the engine, and apart from it the data:
how long the loop waits for each batch while the loader prefetches during the step (``data_ms``)
and what a batch costs to read and normalise with nothing overlapping (``data_fetch_ms``)."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import torch

from gankit_core.engine.trainer import Trainer, TrainSettings
from gankit_core.interfaces import Model


@dataclass
class BenchResult:
    model: str
    device: str
    precision: str
    compile: bool
    channels_last: bool
    batch_size: int
    image_size: int
    steps: int
    ms_per_step: float  # median over n_critic cycles, per step
    images_per_s: float
    data_ms: float  # median wait for the next batch (fetch and normalise) while prefetching overlaps the step
    data_fetch_ms: float  # median time to read and normalise one batch with nothing overlapping
    gflop_per_step: float
    gflops: float  # achieved: FLOPs per step / median step time

    def as_dict(self) -> dict:
        return asdict(self)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(run, device: torch.device, steps: int, warmup: int) -> float:
    """Median wall time of ``run()`` in ms after ``warmup`` untimed calls."""
    for _ in range(warmup):
        run()
    _sync(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        run()
        _sync(device)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def count_step_flops(run) -> int:
    """FLOPs of one call of ``run`` (forward and backward), counted with torch.utils.flop_counter's
    per-op formulas. FlopCounterMode itself is not used: its module tracker installs autograd hooks
    that ``autograd.grad`` (the gradient penalty's double backward) refuses."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Counter(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                Counter.total += formula(*args, **kwargs, out_val=out)
            return out

    with Counter():
        run()
    return Counter.total


def benchmark(model: Model, settings: TrainSettings, steps: int = 10, warmup: int = 3) -> BenchResult:
    """Median time of the engine's training step on the loader's batches, with the data time measured apart."""
    trainer = Trainer(model, settings, write=False)
    placement = trainer.placement
    loader, dataset = trainer.loader, trainer.dataset
    shuffled = torch.Generator().manual_seed(settings.seed + 3)
    data_fetch_ms = median_ms(
        lambda: trainer.prepare_batch(dataset.take(torch.randperm(len(dataset), generator=shuffled)[: loader.local_batch])),
        placement.device, 5, 1)
    waits: list[float] = []

    def step() -> None:
        # The next batch, as training takes it: read in the background during the last step. The
        # wait is timed apart and kept out of the step time.
        start = time.perf_counter()
        batch = trainer.prepare_batch(loader.next())
        _sync(placement.device)
        waits.append((time.perf_counter() - start) * 1000)
        trainer.train_on(batch)
        trainer.step += 1  # so n_critic schedules the generator's turns as in training

    # Time whole n_critic cycles: with the generator trained every k-th step, a median over single
    # steps would report a discriminator-only step.
    cycle = model.config.n_critic
    cycle_ms = []
    for index in range(warmup + steps):
        start, waited = time.perf_counter(), len(waits)
        for _ in range(cycle):
            step()
        _sync(placement.device)
        if index >= warmup:
            cycle_ms.append((time.perf_counter() - start) * 1000 - sum(waits[waited:]))
    ms = statistics.median(cycle_ms) / cycle
    data_ms = statistics.median(waits[warmup * cycle :])
    batch = trainer.prepare_batch(loader.next())
    loader.close()

    def fixed_step() -> None:
        trainer.train_on(batch)
        trainer.step += 1

    flops = count_step_flops(fixed_step) if not settings.compile else count_step_flops_eager(trainer, batch)
    size = model.config.batch_size
    return BenchResult(
        model=model.name, device=str(placement.device), precision=placement.precision.mode, compile=settings.compile,
        channels_last=placement.channels_last, batch_size=size, image_size=model.config.image_size, steps=steps,
        ms_per_step=round(ms, 3), images_per_s=round(size / (ms / 1000), 2), data_ms=round(data_ms, 3),
        data_fetch_ms=round(data_fetch_ms, 3),
        gflop_per_step=round(flops / 1e9, 3), gflops=round(flops / 1e9 / (ms / 1000), 2),
    )


def count_step_flops_eager(trainer: Trainer, batch) -> int:
    """FLOPs through the eager modules (the flop counter cannot see inside compiled graphs)."""
    from gankit_core.interfaces import Networks

    compiled = trainer.nets
    trainer.nets = Networks(trainer.modules)
    try:
        return count_step_flops(lambda: trainer.train_on(batch))
    finally:
        trainer.nets = compiled
