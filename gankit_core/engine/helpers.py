"""Reusable training helpers: the generator EMA and CycleGAN's image history pool."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import torch
from torch import Tensor, nn


class GeneratorEMA:
    """An exponential moving average of a network's weights, used for sampling (Karras et al.)."""

    def __init__(self, network: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(network).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, network: nn.Module) -> None:
        ema_params = list(self.module.parameters())
        params = [p.detach() for p in network.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - self.decay)
        for ema_buffer, buffer in zip(self.module.buffers(), network.buffers(), strict=True):
            ema_buffer.copy_(buffer)


class ImagePool(nn.Module):
    """CycleGAN's history of generated images (Shrivastava et al.): D sees a mix of old and new fakes.

    It is an ``nn.Module`` with buffers so that a model can return it from ``build()`` and the engine
    moves it to the device and checkpoints it with the networks, which keeps resume exact.
    """

    def __init__(self, size: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *image_shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def query(self, images: Tensor) -> Tensor:
        """Return a batch where each image is, with probability 1/2 once the pool is full, an older one."""
        if self.size == 0:
            return images
        with torch.profiler.record_function("image pool"):  # named in profiles (benchmarks/compare.py --profile)
            return self._mix(images)

    def _mix(self, images: Tensor) -> Tensor:
        out = []
        for image in images.detach():
            filled = int(self.count)
            if filled < self.size:
                self.images[filled] = image
                self.count += 1
                out.append(image)
            elif torch.rand(()) < 0.5:
                index = int(torch.randint(0, self.size, ()))
                out.append(self.images[index].clone())
                self.images[index] = image
            else:
                out.append(image)
        stacked = torch.stack(out)
        if images.is_contiguous(memory_format=torch.channels_last):
            return stacked.contiguous(memory_format=torch.channels_last)
        return stacked


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """No weight gradients for ``module`` inside the block: a generator's step needs gradients through the
    discriminator, not the discriminator's own, and skipping them saves a third of its backward pass."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)
