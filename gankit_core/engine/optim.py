"""Optimizers from a model's OptimizerSpecs: the torch class by name, fused Adam where it exists, and each
optimizer's learning-rate schedule as a pure function of the step within its stage (nothing to checkpoint)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

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
