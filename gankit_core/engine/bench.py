"""``gankit bench``: time a model's training step through the engine (data excluded, reported separately)."""

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
    data_ms: float  # median time to fetch and normalise one batch, not in ms_per_step
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
    """Median time of the engine's training step on one fixed batch, with the data time measured apart."""
    trainer = Trainer(model, settings, write=False)
    trainer.setup()
    batch = trainer.prepare_batch(trainer.loader.next())
    data_ms = median_ms(lambda: trainer.prepare_batch(trainer.loader.next()), trainer.device, 5, 1)

    def step() -> None:
        trainer.train_on(batch)
        trainer.step += 1  # so n_critic schedules the generator's turns as in training

    # Time whole n_critic cycles: with the generator trained every k-th step, a median over single
    # steps would report a discriminator-only step.
    cycle = model.config.n_critic
    ms = median_ms(lambda: [step() for _ in range(cycle)], trainer.device, steps, warmup) / cycle
    flops = count_step_flops(step) if not settings.compile else count_step_flops_eager(trainer, batch)
    size = model.config.batch_size
    return BenchResult(
        model=model.name, device=str(trainer.device), precision=trainer.precision.mode, compile=settings.compile,
        channels_last=trainer.channels_last, batch_size=size, image_size=model.config.image_size, steps=steps,
        ms_per_step=round(ms, 3), images_per_s=round(size / (ms / 1000), 2), data_ms=round(data_ms, 3),
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
