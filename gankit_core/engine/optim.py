"""Optimizers from a model's OptimizerSpecs: the torch class by name, fused Adam where it exists, and each
optimizer's learning-rate schedule as a pure function of the step within its stage (nothing to checkpoint), and
the Optimization a training step steps (the optimizers with their fp16 loss scalers)."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
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

    def step(self) -> None:
        """The optimizer's update (the fp16 path steps through its loss scaler instead)."""
        with _channels_last_as_contiguous(self.optimizer):
            self.optimizer.step()

    @property
    def rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])


def _nhwc_view(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.permute(0, 2, 3, 1)


def _nchw_view(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.permute(0, 3, 1, 2)


@contextlib.contextmanager
def _channels_last_as_contiguous(optimizer: torch.optim.Optimizer) -> Iterator[None]:
    """Inside the block, a fused CPU optimizer sees each channels-last weight (its gradient and its state alike) as the
    contiguous N x H x W x C tensor it is in memory. torch's fused CPU Adam works on contiguous tensors only: a
    channels-last weight is copied to NCHW and back on every step, which doubled the update's time
    (docs/speed.md). The update is the same per element, so the weights after it are the same bit for bit."""
    if not optimizer.defaults.get("fused"):
        yield
        return
    viewed = []
    for group in optimizer.param_groups:
        for param in group["params"]:
            if (param.device.type == "cpu" and param.dim() == 4 and not param.is_contiguous()
                    and param.is_contiguous(memory_format=torch.channels_last)):
                state = optimizer.state.get(param, {})
                moments = [value for value in state.values()
                           if isinstance(value, torch.Tensor) and value.shape == param.shape]
                if any(t is not None and not t.is_contiguous(memory_format=torch.channels_last)
                       for t in (param.grad, *moments)):
                    continue  # a tensor in another layout: the kernel would copy it either way
                viewed.append(param)
    for param in viewed:
        param.data = _nhwc_view(param.data)
        if param.grad is not None:
            param.grad = _nhwc_view(param.grad)
        _view_moments(optimizer.state.get(param, {}), _nchw_view(param.data).shape, _nhwc_view)
    try:
        yield
    finally:
        for param in viewed:
            # moments the first step created take the viewed shape: they go back with the weight
            _view_moments(optimizer.state.get(param, {}), param.data.shape, _nchw_view)
            param.data = _nchw_view(param.data)
            if param.grad is not None:
                param.grad = _nchw_view(param.grad)


def _view_moments(state: dict, shape: torch.Size, view: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """``view`` applied to each tensor in a weight's optimizer state that has ``shape`` (the weight's, as it was
    viewed: the moments are element for element the weight's)."""
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.shape == shape:
            state[key] = view(value)


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
