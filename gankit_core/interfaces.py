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
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from gankit_core.metrics.evaluation import Evaluation

# A batch on the device: "image" (float, [-1, 1], N x 3 x H x W) and whatever else the dataset gives
# ("landmarks" N x 68 x 2 in pixels, "eye_box"/"mouth_box" N x 4 as x0, y0, x1, y1, "expression", ...).
Batch = dict[str, Tensor]


class Generator(nn.Module):
    """A network that maps noise or an image to an image in [-1, 1]."""

    def example_inputs(self) -> tuple[Tensor, ...] | None:
        """Inputs (batch of 2) at the size the network was built for: ``gankit info NAME --layers`` traces it with
        them. None: it declares none, and gets no layer table."""
        return None


class Discriminator(nn.Module):
    """A network that maps an image to real/fake logits (one per sample, or a map of patch scores)."""

    def example_inputs(self) -> tuple[Tensor, ...] | None:
        """Inputs (batch of 2) at the size the network was built for, as ``Generator.example_inputs``."""
        return None


class TableRow(nn.Sequential):
    """One row of a paper's layer table (LeakyReLU, conv, batch norm, say): ``gankit info --layers`` lists it as one
    row, its type the names of its layers, and does not list those layers again."""


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
        import math

        from gankit_core.errors import ConfigError

        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):  # NaN would train silently to nothing
                raise ConfigError(f"{field.name} must be a finite number, not {value}")
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


# Train-loop settings a preset may set beside config keys (``gankit run --preset`` applies them as if given on the
# command line; an explicit flag or ``--set`` wins).
PRESET_SETTINGS = ("steps", "sample_every")


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named configuration a model declares beside its defaults: ``gankit run MODEL --preset NAME``."""

    summary: str
    """One line: what it is for."""
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Config field -> value (and ``steps``/``sample_every``, train-loop settings); empty for ``paper``."""
    measured: str = ""
    """One line: the training time measured on the 2-core CPU and the quality reached, with its doc page."""

    @property
    def config(self) -> dict[str, Any]:
        """The overrides of the model's config."""
        return {key: value for key, value in self.overrides.items() if key not in PRESET_SETTINGS}

    @property
    def settings(self) -> dict[str, Any]:
        """The overrides of the train-loop settings (``steps``, ``sample_every``)."""
        return {key: value for key, value in self.overrides.items() if key in PRESET_SETTINGS}


@dataclasses.dataclass(frozen=True)
class ConfigMigration:
    """What changed in a model's config from one version to the next, so that a config saved by the older version
    (a checkpoint, a run's config.toml) is read as that version meant it, never with today's defaults.

    ``Model.config_migrations[N]`` takes version N to N + 1, in this order: ``renamed`` (old name -> new name),
    ``removed`` (a key the new version no longer has -> the one value of it that the new version still
    reproduces; a saved config holding another value is refused), and ``added`` (a new key -> the value that
    reproduces version N's behaviour, or a function of the version-N config giving it; filled only where the
    saved config lacks the key, since a config saved between two releases may already hold it).
    """

    added: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    renamed: Mapping[str, str] = dataclasses.field(default_factory=dict)
    removed: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class MigratedConfig:
    """A saved config brought to today's version: ``values`` to build the model from, and what was done."""

    values: dict[str, Any]
    version: int  # the version the config was saved as
    filled: dict[str, Any]  # keys the saved config lacked -> the older version's value now filled in
    defaulted: dict[str, Any]  # keys no migration declares -> today's default (a plugin that forgot a migration)

    def describe(self, model: str, current: int) -> str | None:
        """One line naming every filled key and its value, or None when nothing was filled."""
        if not self.filled and not self.defaulted:
            return None
        parts = []
        if self.filled:
            filled = ", ".join(f"{key}={value!r}" for key, value in self.filled.items())
            parts.append(f"filled {filled}, the values that reproduce version {self.version}")
        if self.defaulted:
            defaulted = ", ".join(f"{key}={value!r}" for key, value in self.defaulted.items())
            parts.append(f"took today's defaults for {defaulted}, which no migration of the model declares")
        return f"config version {self.version} of model '{model}' read as version {current}: {'; '.join(parts)}"


# The constructor arguments a model passes when it builds a component by registry name. A component takes the
# ones it needs (``create_component`` passes each constructor only the arguments it names, as pluggy does), so
# any registered generator with the same inputs and outputs can replace another with ``--set generator=NAME``.
COMPONENT_ARGUMENTS = {
    "image_size": "input and output size in pixels",
    "width": "base channel count (the first layer's; deeper layers are multiples of it)",
    "latent_dim": "length of the noise vector a generator starts from",
    "in_channels": "channels of the input image (3 for RGB; 4 for an image plus a landmark map)",
    "out_channels": "channels of the output image",
}


class OptimizerSpec(NamedTuple):
    """One optimizer over ``params``; the engine builds it (fused Adam where available) and schedules its rate.

    ``schedule`` is None for the config's ``lr_schedule``; a schedule runs over the stage the optimizer trains
    in. ``kind`` is ``"adam"`` or the name of any ``torch.optim`` class (``"AdamW"``, ``"SGD"``, ``"RMSprop"``);
    ``betas`` reach it only if it takes them. ``after_step`` runs after every step of this optimizer (U-GAT-IT
    clips AdaLIN's rho to [0, 1] there), on the plain modules, outside autograd.
    """

    params: Iterable[nn.Parameter]
    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    schedule: str | None = None
    kind: str = "adam"
    after_step: Callable[[], None] | None = None


@dataclasses.dataclass(frozen=True)
class Stage:
    """One phase of training: how long it runs, which networks it trains and which optimizers it steps.

    A stage's length is ``steps`` or ``epochs``; a model with one stage may leave both unset, and then the run's
    ``--steps``/``--epochs`` (or ``default_steps``) decide. ``trains`` and ``optimizers`` default to every
    network and every optimizer. ``frozen`` networks are held in eval mode with no weight gradients for the whole
    stage (batch-norm statistics of a frozen autoencoder do not drift); None freezes every network the stage
    does not train.
    """

    name: str
    steps: int | None = None
    epochs: int | None = None
    trains: tuple[str, ...] = ()
    optimizers: tuple[str, ...] = ()
    frozen: tuple[str, ...] | None = None


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
    stage: str  # the name of the stage this step belongs to ("train" for a one-stage model)
    stage_index: int  # the step within its stage, from 0
    train_generator: bool  # True on the steps where the generator is updated (every n_critic-th of the stage)

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


@runtime_checkable
class SwapsRegions(Protocol):
    """A model that exchanges a region between two faces (``gankit swap``; cregan)."""

    def swap(self, nets: Networks, a: Tensor, b: Tensor, boxes_a: Tensor,
             boxes_b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(A with B's region, B with A's region, the exchange mask) for images in [-1, 1] and their region boxes
        (N x 4: x0, y0, x1, y1 in pixels)."""

    def band_pixels(self, size: int) -> float:
        """Width in pixels, at ``size``, of the feathered band around the exchange area that the output also
        changes."""


@runtime_checkable
class TransfersExpressions(Protocol):
    """A model that puts one face's expression on another (``gankit transfer``; expression)."""

    def transfer(self, nets: Networks, source_points: Tensor, target: Tensor,
                 target_points: Tensor) -> tuple[Tensor, Tensor]:
        """(the target image wearing the source's expression, the landmark image that guided it) from the source's
        68 points, the target image (N x 3 x S x S in [-1, 1]) and its 68 points."""


@runtime_checkable
class Translates(Protocol):
    """A model that maps images between two domains (``gankit translate``; ugatit, cyclegan)."""

    def translate(self, nets: Networks, images: Tensor, direction: str) -> Tensor:
        """``images`` (N x 3 x S x S in [-1, 1]) translated ``"a2b"`` or ``"b2a"``."""


class Model(ABC):
    """A GAN recipe: a config with the paper's defaults, networks, optimizers and one training step.

    Everything the engine and the CLI read from a model is declared here with its default; a subclass
    overrides what differs (docs/writing-plugins.md walks through each).
    """

    name: ClassVar[str] = ""
    """The registry name (``gankit run NAME``)."""
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    """The config dataclass, its defaults the paper's values."""
    inference_networks: ClassVar[tuple[str, ...]] = ("generator",)
    """The networks that make images: each is EMA'd (``ema_decay``), checkpointed under ``ema/<name>`` and
    exported; sampling and loaded checkpoints use their EMA weights."""
    batch_fields: ClassVar[tuple[str, ...]] = ("image",)
    """What the model needs from a dataset (a dataset lacking one is refused before training)."""
    channels_last_on_cpu: ClassVar[bool] = True
    """Whether NHWC pays on CPUs (measure with gankit bench); on CUDA it is always used."""
    default_steps: ClassVar[int] = 1000
    """Training steps when neither ``--steps`` nor ``--epochs`` is given (one-stage models)."""
    log_epochs: ClassVar[bool] = False
    """Log per-epoch means and write a sample grid at the end of every epoch (paper 004's protocol)."""
    sample_columns: ClassVar[int | None] = None
    """Columns of the sample grid (None: a square grid); a model showing tuples sets their length."""
    sample_needs_data: ClassVar[bool] = False
    """Whether ``sample_inputs`` needs a real batch (translation, exchange) rather than noise alone."""
    own_metrics: ClassVar[tuple[str, ...]] = ()
    """Metric names the model computes itself in ``evaluate`` (besides FID/KID on ``generate``)."""
    default_metrics: ClassVar[tuple[str, ...]] = ("fid", "kid")
    """What ``gankit eval MODEL`` reports when no ``--metric`` is given."""
    presets: ClassVar[Mapping[str, Preset]] = {"paper": Preset("the model's defaults: its paper's configuration")}
    """Named configurations beside the defaults (``gankit run MODEL --preset NAME``, listed by ``gankit info``):
    ``paper`` (the defaults, no overrides) and ``cpu`` (what gives a result that looks right in minutes on a 2-core
    CPU, with what was measured)."""
    preset: str | None = None
    """The preset this instance's config started from (its run's config.toml records it), or None."""
    config_version: ClassVar[int] = 1
    """The version of ``Config``: raise it whenever a key is added, renamed or removed, or a default changes what
    a saved config means, and say how the older version reads in ``config_migrations``."""
    config_migrations: ClassVar[Mapping[int, ConfigMigration]] = {}
    """``{N: ConfigMigration}`` for every N below ``config_version``: how a config of version N becomes N + 1.
    Checkpoints and run directories record their config's version; loading and resuming migrate it."""

    def __init__(self, config: ModelConfig | None = None, *, preset: str | None = None, **overrides: Any) -> None:
        """The config from ``config`` (default: the paper's), then the ``preset``'s values, then ``overrides``."""
        from gankit_core.config import resolve_config

        base = config if config is not None else self.Config()
        chosen = self.preset_named(preset).config if preset is not None else {}
        self.config = resolve_config(type(base), {**dataclasses.asdict(base), **chosen, **overrides}, owner=self.name)
        self.preset = preset

    @classmethod
    def preset_named(cls, name: str) -> Preset:
        """The preset called ``name``; ConfigError naming the model's presets when it has none by that name."""
        if name not in cls.presets:
            from gankit_core.errors import ConfigError

            raise ConfigError(f"model '{cls.name}' has no preset '{name}'; its presets are {', '.join(cls.presets)}")
        return cls.presets[name]

    @abstractmethod
    def build(self) -> dict[str, nn.Module]:
        """Create the networks, on the CPU, in fp32 (every ``inference_networks`` name among them)."""

    @abstractmethod
    def optimizers(self, nets: Networks) -> dict[str, OptimizerSpec]:
        """One optimizer per name; ``StepContext.optimize(name, loss)`` steps it."""

    @abstractmethod
    def train_step(self, nets: Networks, batch: Batch, step: StepContext) -> dict[str, Tensor | float]:
        """One training iteration; returns named scalars (losses, ``real_score``, ``fake_score``).

        A model with stages reads ``step.stage`` to know which phase it is in."""

    def stages(self) -> tuple[Stage, ...]:
        """The training phases in order; one stage training everything unless overridden."""
        return (Stage("train"),)

    @abstractmethod
    def sample_inputs(self, n: int, batch: Batch, generator: torch.Generator) -> dict[str, Tensor]:
        """Fixed inputs for ``n`` samples: noise drawn from ``generator``, or taken from a real ``batch`` (which
        holds ``n`` examples when ``sample_needs_data``). ``generate`` makes ``n`` images from them; ``sample``
        shows ``n`` rows of ``sample_columns`` images."""

    @abstractmethod
    def generate(self, nets: Networks, inputs: dict[str, Tensor]) -> Tensor:
        """The generated images for ``inputs`` (N x 3 x H x W in [-1, 1]): what FID/KID and ``gankit sample``'s
        ``--raw`` consume. Only generated images, never the real inputs beside them."""

    def sample(self, nets: Networks, inputs: dict[str, Tensor]) -> Tensor:
        """The images of the sample grid, in rows of ``sample_columns``; by default the generated images alone.

        A model that shows its inputs beside its outputs (real, translated, reconstructed) overrides this."""
        return self.generate(nets, inputs)

    def evaluate(self, evaluation: Evaluation) -> dict[str, float]:
        """The model's ``own_metrics`` for ``gankit eval`` (only called when it has some). ``evaluation`` holds the
        loaded checkpoint (``.loaded``: model, networks, device), what the user asked for (``count``, ``seed``,
        ``data``, ``inception``) and another run to report beside it (``baseline``, from ``--baseline``)."""
        from gankit_core.errors import GankitError

        raise GankitError(f"model '{self.name}' has no evaluation of its own; use --metric fid or kid")

    def example_inputs(self, network: str) -> tuple[Tensor, ...]:
        """Inputs at the configured size for ``network`` (``gankit info --layers`` traces with them)."""
        size = self.config.image_size
        return (torch.zeros(2, 3, size, size),)

    @classmethod
    def migrate_config(cls, values: Mapping[str, Any], version: int) -> MigratedConfig:
        """A config saved as ``version`` (a checkpoint's, a config.toml's) as today's version reads it: each step of
        ``config_migrations`` applied in turn. A key still missing after them takes today's default and is
        reported apart (no migration declared it). Raises ConfigError for a version newer than this model's, or a
        removed key whose saved value today's code no longer reproduces."""
        from gankit_core.errors import ConfigError

        if not isinstance(values, Mapping):
            raise ConfigError(f"the saved config of model '{cls.name}' is not a table of values ({values!r})")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ConfigError(f"config_version must be a whole number from 1 to {cls.config_version} (model "
                              f"'{cls.name}'), not {version!r}")
        if version > cls.config_version:
            raise ConfigError(f"the config is version {version} of model '{cls.name}', newer than the installed "
                              f"plugin's version {cls.config_version}: upgrade the plugin that gives '{cls.name}'")
        migrated, filled = dict(values), {}
        for step in range(version, cls.config_version):
            migration = cls.config_migrations.get(step)
            if migration is None:  # the plugin's bug, not the user's: a traceback
                raise TypeError(f"model '{cls.name}' is at config version {cls.config_version} but declares no "
                                f"migration from version {step} (config_migrations[{step}])")
            for old, new in migration.renamed.items():
                if old in migrated:
                    migrated[new] = migrated.pop(old)
            for key, reproduced in migration.removed.items():
                saved = migrated.pop(key, reproduced)
                if saved != reproduced:
                    raise ConfigError(f"the config sets {key} = {saved!r}, which model '{cls.name}' no longer "
                                      f"has since config version {step + 1} (only {reproduced!r} is reproduced); "
                                      "use the plugin version it was saved with")
            for key, value in migration.added.items():
                if key not in migrated:
                    migrated[key] = value(migrated) if callable(value) else value
                    filled[key] = migrated[key]
        defaults = dataclasses.asdict(cls.Config())
        defaulted = {key: value for key, value in defaults.items() if key not in migrated}
        return MigratedConfig({**migrated, **defaulted}, version, filled, defaulted)
