"""Optimizers from a model's OptimizerSpecs: the torch class by name, fused Adam where it exists, and each
optimizer's learning-rate schedule as a pure function of the step within its stage (nothing to checkpoint), and
the Optimization a training step steps (the optimizers with their fp16 loss scalers)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from gankit_core.engine.precision import Precision
from gankit_core.engine.schedules import parse_schedule
from gankit_core.errors import ConfigError
from gankit_core.interfaces import OptimizerSpec


def optimizer_class(kind: str) -> type[torch.optim.Optimizer]:
    """``torch.optim``'s class for ``kind`` ("adam", "AdamW", "sgd", ...), case-insensitively."""
    classes = {name.lower(): value for name, value in vars(torch.optim).items()
               if inspect.isclass(value) and issubclass(value, torch.optim.Optimizer)
               and value is not torch.optim.Optimizer}
    try:
        return classes[kind.lower()]
    except KeyError:
        raise ConfigError(f"unknown optimizer {kind!r}; torch.optim has {', '.join(sorted(classes))}") from None


def build_optimizer(spec: OptimizerSpec) -> torch.optim.Optimizer:
    params = [p for p in spec.params if p.requires_grad]
    cls = optimizer_class(spec.kind)
    accepted = inspect.signature(cls).parameters
    options: dict[str, Any] = {"lr": spec.lr, "weight_decay": spec.weight_decay}
    if "betas" in accepted:
        options["betas"] = tuple(spec.betas)
    if "fused" in accepted:
        try:  # fused: one kernel for the whole update (CUDA, and CPU since torch 2.4)
            return cls(params, fused=True, **options)
        except (RuntimeError, TypeError):
            pass
    if "foreach" in accepted:
        return cls(params, foreach=True, **options)
    return cls(params, **options)


class ScheduledOptimizer:
    """An optimizer with its base rate, its schedule and its after-step hook."""

    def __init__(self, spec: OptimizerSpec, default_schedule: str) -> None:
        self.optimizer = build_optimizer(spec)
        self.base_lr = spec.lr
        self.schedule: Callable[[int, int], float] = parse_schedule(spec.schedule or default_schedule)
        self.after_step = spec.after_step
        self.params = [p for group in self.optimizer.param_groups for p in group["params"]]

    def set_rate(self, stage_step: int, stage_length: int) -> None:
        rate = self.base_lr * self.schedule(stage_step, max(1, stage_length))
        for group in self.optimizer.param_groups:
            group["lr"] = rate

    @property
    def rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])


@dataclass(frozen=True)
class Optimization:
    """A model's optimizers by name, and under fp16 the loss scaler of each (none under fp32 and bf16)."""

    optimizers: dict[str, ScheduledOptimizer]
    scalers: dict[str, torch.amp.GradScaler]

    @classmethod
    def build(cls, specs: dict[str, OptimizerSpec], default_schedule: str, precision: Precision,
              model_name: str) -> Optimization:
        try:
            optimizers = {name: ScheduledOptimizer(spec, default_schedule) for name, spec in specs.items()}
        except ValueError as error:  # torch.optim's own check of a negative rate or decay
            raise ConfigError(f"model '{model_name}': {error}") from None
        scalers = ({name: torch.amp.GradScaler(precision.device.type) for name in specs}
                   if precision.needs_loss_scaling else {})
        return cls(optimizers, scalers)
