"""The checkpointer: a run's TrainingState to safetensors bytes and back (weights, EMA, optimizers, loss
scalers, RNG, data position, step and stage), refusing a checkpoint of another model or config."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from gankit_core.engine import checkpoint as ckpt
from gankit_core.engine.run_dir import plugin_versions
from gankit_core.errors import CheckpointError

if TYPE_CHECKING:
    from gankit_core.data.loader import BatchLoader
    from gankit_core.engine.helpers import GeneratorEMA
    from gankit_core.engine.optim import Optimization
    from gankit_core.engine.stages import StagePlan
    from gankit_core.interfaces import Model


@dataclass
class TrainingState:
    """Everything that changes as a run trains and that exact resume must restore."""

    modules: dict[str, nn.Module]
    emas: dict[str, GeneratorEMA]
    optimization: Optimization
    noise: torch.Generator  # the generator behind step.randn / step.rand
    loader: BatchLoader  # its position in the data order
    step: int = 0  # finished steps


def _match_param_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give restored moment buffers their parameter's strides: checkpoints store them contiguous, and a
    fused optimizer walks a parameter and its moments as flat memory, so a channels-last parameter
    with contiguous moments would be updated with the wrong moments."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            for key, value in state.items():
                if isinstance(value, Tensor) and value.shape == param.shape and value.stride() != param.stride():
                    state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def pack_state(state: TrainingState, model: Model, settings: Any, plan: StagePlan, precision: str) -> bytes:
    """``settings``: the run's TrainSettings (stored for reference); ``precision``: the resolved mode."""
    modules: dict[str, nn.Module] = {f"net/{name}": m for name, m in state.modules.items()}
    modules.update({f"ema/{name}": ema.module for name, ema in state.emas.items()})
    rng = {"cpu": torch.get_rng_state(), "noise": state.noise.get_state()}
    if state.noise.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(state.noise.device)
    meta = {
        "config": dataclasses.asdict(model.config),
        "settings": dataclasses.asdict(settings),
        "versions": plugin_versions(),
        "data": state.loader.state(),
        "scalers": {name: s.state_dict() for name, s in state.optimization.scalers.items()},
        "precision": precision,
        "stage": plan.at(max(state.step - 1, 0)).name,  # the stage the last finished step belonged to
        "rng_tensors": rng,
    }
    optimizers = {name: scheduled.optimizer for name, scheduled in state.optimization.optimizers.items()}
    return ckpt.pack(model=model.name, step=state.step, modules=modules, optimizers=optimizers, meta=meta)


def check_compatible(checkpoint: ckpt.Checkpoint, model: Model) -> None:
    where = checkpoint.path
    if checkpoint.model != model.name:
        raise CheckpointError(f"{where}: checkpoint is from model '{checkpoint.model}', not '{model.name}'")
    saved = checkpoint.meta("config", {})
    current = json.loads(json.dumps(dataclasses.asdict(model.config)))
    differing = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if differing:
        details = ", ".join(f"{k} {saved.get(k)!r} vs {current.get(k)!r}" for k in differing[:4])
        raise CheckpointError(f"{where}: incompatible config ({details})")


def restore_state(state: TrainingState, checkpoint: ckpt.Checkpoint, model: Model, plan: StagePlan) -> None:
    """Continue exactly where ``checkpoint`` stopped: weights, optimizers, scalers, RNG, data order, step, stage."""
    where = checkpoint.path
    check_compatible(checkpoint, model)
    for name, module in state.modules.items():
        checkpoint.load_module(name, module)
    for name, ema in state.emas.items():
        checkpoint.load_module(name, ema.module, prefix="ema")
    for name, scheduled in state.optimization.optimizers.items():
        try:
            scheduled.optimizer.load_state_dict(checkpoint.optimizer_state(name))
        except (KeyError, ValueError) as error:
            raise CheckpointError(f"{where}: optimizer '{name}' state does not match ({error})") from None
        _match_param_layout(scheduled.optimizer)
    scalers = state.optimization.scalers
    for name, saved in checkpoint.meta("scalers", {}).items():
        if name in scalers:
            scalers[name].load_state_dict(saved)
    torch.set_rng_state(checkpoint.rng("cpu"))
    state.noise.set_state(checkpoint.rng("noise").to(state.noise.get_state().device))
    if state.noise.device.type == "cuda" and checkpoint.rng("cuda") is not None:
        torch.cuda.set_rng_state(checkpoint.rng("cuda"), state.noise.device)
    state.loader.load_state(checkpoint.meta("data"))
    recorded = checkpoint.meta("stage")
    state.step = checkpoint.step
    if recorded is not None and recorded not in plan.names:
        raise CheckpointError(f"{where}: checkpoint is in stage '{recorded}', which model "
                              f"'{model.name}' does not have ({', '.join(plan.names)})")


def load_weights(state: TrainingState, checkpoint: ckpt.Checkpoint, model_name: str) -> list[str]:
    """``--init-from``: the weights (and EMA) of every network the checkpoint has, nothing else; returns their
    names. An earlier stage's run starts a later stage this way."""
    if checkpoint.model != model_name:
        raise CheckpointError(f"{checkpoint.path}: checkpoint is from model '{checkpoint.model}', not '{model_name}'")
    loaded = [name for name in state.modules if checkpoint.has_module(name)]
    if not loaded:
        raise CheckpointError(f"{checkpoint.path}: no network of model '{model_name}' in this checkpoint")
    for name in loaded:
        checkpoint.load_module(name, state.modules[name])
        if name in state.emas:
            prefix = "ema" if checkpoint.has_module(name, "ema") else "net"
            checkpoint.load_module(name, state.emas[name].module, prefix=prefix)
    return loaded
