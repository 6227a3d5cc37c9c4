"""The public API third parties code against: networks, losses, the model recipe and the step context.

A model states the maths: which networks it has, their optimizers, and one training step that
returns named scalars. The engine owns the machinery: devices, precision, loss scaling,
``.backward()``, distributed gradient averaging, EMA, schedules, checkpoints. A model therefore
never calls ``.backward()``, ``autocast``, ``GradScaler``, ``.to(device)`` or DDP itself; it asks
the :class:`StepContext` it is handed.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any, ClassVar, NamedTuple, Protocol

import torch
from torch import Tensor, nn

# A batch on the device: "image" (float, [-1, 1], N x 3 x H x W) and whatever else the dataset gives
# ("landmarks" N x 68 x 2 in pixels, "eye_box"/"mouth_box" N x 4 as x0, y0, x1, y1, "expression", ...).
Batch = dict[str, Tensor]


class Generator(nn.Module):
    """A network that maps noise or an image to an image in [-1, 1]."""


class Discriminator(nn.Module):
    """A network that maps an image to real/fake logits (one per sample, or a map of patch scores)."""


class Loss(ABC):
    """An adversarial objective on discriminator logits (real -> high, fake -> low)."""

    @abstractmethod
    def discriminator(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """The discriminator's loss on a real and a fake batch."""

    @abstractmethod
    def generator(self, fake_logits: Tensor) -> Tensor:
        """The generator's loss on the discriminator's view of its output."""


@dataclasses.dataclass
class ModelConfig:
    """Fields every model has; a model's Config subclasses this with its paper's defaults."""

    image_size: int = 64
    batch_size: int = 64
    n_critic: int = 1  # discriminator updates per generator update
    ema_decay: float = 0.0  # 0 turns the generator EMA off
    lr_schedule: str = "constant"  # "constant", "step:EVERY:FACTOR" or "linear-half"
    data: str = "synthetic-faces"

    def validate(self) -> None:
        """Raise ConfigError for values the model cannot train with."""
        from gankit_core.errors import ConfigError

        if not 16 <= self.image_size <= 1024:
            raise ConfigError(f"image_size must be between 16 and 1024, not {self.image_size}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, not {self.batch_size}")
        if self.n_critic < 1:
            raise ConfigError(f"n_critic must be at least 1, not {self.n_critic}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1), not {self.ema_decay}")
        from gankit_core.engine.schedules import parse_schedule

        parse_schedule(self.lr_schedule)


class OptimizerSpec(NamedTuple):
    """One Adam optimizer over ``params``; the engine builds it (fused where available)."""

    params: Iterable[nn.Parameter]
    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0


class Networks(dict):
    """Networks by name, also reachable as attributes (``nets.generator``)."""

    def __getattr__(self, name: str) -> nn.Module:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no network named {name!r}; networks are {', '.join(self)}") from None


class StepContext(Protocol):
    """What the engine hands a model's ``train_step``."""

    index: int  # the global step, from 0
    train_generator: bool  # True on the steps where the generator is updated (every n_critic-th)

    def autocast(self) -> AbstractContextManager:
        """Context for forward passes in the run's precision."""

    def optimize(self, name: str, loss: Tensor) -> None:
        """Backpropagate ``loss`` (scaled when fp16) and step optimizer ``name``; gradients are zeroed first."""

    def gradient_penalty(self, discriminator: nn.Module, real: Tensor, fake: Tensor, *args: Any) -> Tensor:
        """WGAN-GP's (||grad D(x_hat)|| - 1)^2 at random interpolates, in fp32, correct under autocast."""

    def r1_penalty(self, discriminator: nn.Module, real: Tensor, *args: Any) -> Tensor:
        """R1: ||grad D(x)||^2 on real images, in fp32, correct under autocast."""

    def randn(self, *shape: int) -> Tensor:
        """Normal noise on the device; under data parallel each rank gets its slice of one global draw."""

    def rand(self, *shape: int) -> Tensor:
        """Uniform [0, 1) noise on the device, sliced per rank like ``randn``."""


class Model(ABC):
    """A GAN recipe: a config with the paper's defaults, networks, optimizers and one training step."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    sample_network: ClassVar[str] = "generator"  # the network that is EMA'd and used for sampling
    batch_fields: ClassVar[tuple[str, ...]] = ("image",)  # what the model needs from a dataset
    channels_last_on_cpu: ClassVar[bool] = True  # whether NHWC pays on CPUs (measure with gankit bench)

    def __init__(self, config: ModelConfig | None = None, **overrides: Any) -> None:
        from gankit_core.config import resolve_config

        base = config if config is not None else self.Config()
        self.config = resolve_config(type(base), {**dataclasses.asdict(base), **overrides}, owner=self.name)

    @abstractmethod
    def build(self) -> dict[str, nn.Module]:
        """Create the networks, on the CPU, in fp32."""

    @abstractmethod
    def optimizers(self, nets: Networks) -> dict[str, OptimizerSpec]:
        """One optimizer per name; ``StepContext.optimize(name, loss)`` steps it."""

    @abstractmethod
    def train_step(self, nets: Networks, batch: Batch, step: StepContext) -> dict[str, Tensor | float]:
        """One training iteration; returns named scalars (losses, ``real_score``, ``fake_score``)."""

    @abstractmethod
    def sample_inputs(self, n: int, batch: Batch, generator: torch.Generator) -> dict[str, Tensor]:
        """Fixed inputs for sample grids: noise drawn from ``generator``, or taken from a real ``batch``."""

    @abstractmethod
    def sample(self, nets: Networks, inputs: dict[str, Tensor]) -> Tensor:
        """Images in [-1, 1] (N x 3 x H x W) for ``inputs``; a grid shows them in rows."""

    def example_inputs(self, network: str) -> tuple[Tensor, ...]:
        """Inputs at the configured size for ``network`` (``gankit info --layers`` traces with them)."""
        size = self.config.image_size
        return (torch.zeros(2, 3, size, size),)


class Trainer(Protocol):
    """The engine's contract (gankit_core.engine.Trainer implements it)."""

    step: int

    def fit(self, steps: int) -> Any:
        """Train until global step ``steps`` (resuming where the run left off); returns the run's result."""

    def save_checkpoint(self) -> Any:
        """Write a checkpoint of the current step, atomically."""
