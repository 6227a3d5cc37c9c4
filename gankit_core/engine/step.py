"""The StepContext a model's ``train_step`` receives: autocast, backward + optimizer step, penalties, noise.

It is handed the few engine parts a step uses (the Optimization, the Placement and the run's noise
generator), not the trainer."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from gankit_core.engine import distributed
from gankit_core.engine.guards import NonFiniteLoss
from gankit_core.losses import gradient_norm_penalty, gradient_square_penalty

if TYPE_CHECKING:
    from gankit_core.engine.optim import Optimization
    from gankit_core.engine.placement import Placement
    from gankit_core.engine.stages import PlannedStage


class TrainingStep:
    """One step's context (see gankit_core.interfaces.StepContext)."""

    def __init__(self, index: int, stage: PlannedStage, n_critic: int, *, optimization: Optimization,
                 placement: Placement, noise: torch.Generator) -> None:
        self._stage = stage
        self._optimization = optimization
        self._placement = placement
        self._noise = noise
        self.index = index
        self.stage = stage.name
        self.stage_index = index - stage.start
        self.train_generator = (self.stage_index + 1) % n_critic == 0
        self.stepped: list[str] = []  # optimizers stepped so far, in order (the engine EMAs what they moved)

    def autocast(self) -> contextlib.AbstractContextManager:
        return self._placement.precision.autocast()

    def optimize(self, name: str, loss: Tensor) -> None:
        optimizers, placement = self._optimization.optimizers, self._placement
        if name not in optimizers:
            raise KeyError(f"no optimizer named {name!r}; the model declared {', '.join(optimizers)}")
        if name not in self._stage.optimizers:
            raise KeyError(f"optimizer {name!r} is not stepped in stage '{self.stage}' "
                           f"(its optimizers: {', '.join(self._stage.optimizers)})")
        # Every rank must agree before the gradient all-reduce: a rank that skipped alone would leave the others
        # waiting in a collective it never enters.
        bad = not bool(torch.isfinite(loss.detach()).all())
        if distributed.any_rank_true(bad, placement.dist, placement.device):
            raise NonFiniteLoss(name)
        scheduled = optimizers[name]
        optimizer = scheduled.optimizer
        optimizer.zero_grad(set_to_none=True)
        scaler = self._optimization.scalers.get(name)
        (scaler.scale(loss) if scaler is not None else loss).backward()
        distributed.average_gradients(scheduled.params, placement.dist)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            scheduled.step()
        if scheduled.after_step is not None:
            with torch.no_grad():
                scheduled.after_step()
        self.stepped.append(name)

    def _input_gradients(self, discriminator: nn.Module, points: Tensor, args: tuple, optimizer: str) -> Tensor:
        points = self._placement.layout(points.detach().float().requires_grad_(True))
        # torch.compile cannot double-backward: run the penalty through the eager module.
        eager = getattr(discriminator, "_orig_mod", discriminator)
        with self.autocast():
            scores = eager(points, *args)
        scaler = self._optimization.scalers.get(optimizer)
        # Under fp16 the scores are scaled before autograd so small gradients survive, then unscaled in fp32.
        scale = scaler.get_scale() if scaler is not None else 1.0
        (gradients,) = torch.autograd.grad(scores.float().sum() * scale, points, create_graph=True)
        return gradients.float() / scale

    def gradient_penalty(
        self, discriminator: nn.Module, real: Tensor, fake: Tensor, *args: Any, optimizer: str = "discriminator"
    ) -> Tensor:
        mix = self.rand(real.shape[0], *([1] * (real.dim() - 1)))
        points = torch.lerp(fake.detach().float(), real.detach().float(), mix)
        return gradient_norm_penalty(self._input_gradients(discriminator, points, args, optimizer))

    def r1_penalty(self, discriminator: nn.Module, real: Tensor, *args: Any, optimizer: str = "discriminator") -> Tensor:
        return gradient_square_penalty(self._input_gradients(discriminator, real, args, optimizer))

    def _draw(self, sampler, shape: tuple[int, ...]) -> Tensor:
        world, rank = self._placement.dist.world_size, self._placement.dist.rank
        full = sampler((shape[0] * world, *shape[1:]), generator=self._noise, device=self._placement.device)
        return full[rank * shape[0] : (rank + 1) * shape[0]]

    def randn(self, *shape: int) -> Tensor:
        return self._draw(torch.randn, shape)

    def rand(self, *shape: int) -> Tensor:
        return self._draw(torch.rand, shape)
