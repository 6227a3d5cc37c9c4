"""The checkpointer: a trainer's whole state to safetensors bytes and back (weights, EMA, optimizers, loss
scalers, RNG, data position, stage), refusing a checkpoint of another model or config."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from gankit_core.engine import checkpoint as ckpt
from gankit_core.engine.run_dir import plugin_versions
from gankit_core.errors import CheckpointError

if TYPE_CHECKING:
    from gankit_core.engine.trainer import Trainer


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


def pack_state(trainer: Trainer) -> bytes:
    modules: dict[str, nn.Module] = {f"net/{name}": m for name, m in trainer.modules.items()}
    modules.update({f"ema/{name}": ema.module for name, ema in trainer.emas.items()})
    rng = {"cpu": torch.get_rng_state(), "noise": trainer.noise.get_state()}
    if trainer.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(trainer.device)
    meta = {
        "config": dataclasses.asdict(trainer.model.config),
        "settings": dataclasses.asdict(trainer.settings),
        "versions": plugin_versions(),
        "data": trainer.loader.state(),
        "scalers": {name: s.state_dict() for name, s in trainer.scalers.items()},
        "precision": trainer.precision.mode,
        "stage": trainer.plan.at(max(trainer.step - 1, 0)).name,  # the stage the last finished step belonged to
        "rng_tensors": rng,
    }
    optimizers = {name: scheduled.optimizer for name, scheduled in trainer.optimizers.items()}
    return ckpt.pack(model=trainer.model.name, step=trainer.step, modules=modules, optimizers=optimizers, meta=meta)


def check_compatible(checkpoint: ckpt.Checkpoint, trainer: Trainer) -> None:
    where = checkpoint.path
    if checkpoint.model != trainer.model.name:
        raise CheckpointError(f"{where}: checkpoint is from model '{checkpoint.model}', not '{trainer.model.name}'")
    saved = checkpoint.meta("config", {})
    current = json.loads(json.dumps(dataclasses.asdict(trainer.model.config)))
    differing = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if differing:
        details = ", ".join(f"{k} {saved.get(k)!r} vs {current.get(k)!r}" for k in differing[:4])
        raise CheckpointError(f"{where}: incompatible config ({details})")


def restore_state(trainer: Trainer, checkpoint: ckpt.Checkpoint) -> None:
    """Continue exactly where ``checkpoint`` stopped: weights, optimizers, scalers, RNG, data order, stage."""
    where = checkpoint.path
    check_compatible(checkpoint, trainer)
    for name, module in trainer.modules.items():
        checkpoint.load_module(name, module)
    for name, ema in trainer.emas.items():
        checkpoint.load_module(name, ema.module, prefix="ema")
    for name, scheduled in trainer.optimizers.items():
        try:
            scheduled.optimizer.load_state_dict(checkpoint.optimizer_state(name))
        except (KeyError, ValueError) as error:
            raise CheckpointError(f"{where}: optimizer '{name}' state does not match ({error})") from None
        _match_param_layout(scheduled.optimizer)
    for name, state in checkpoint.meta("scalers", {}).items():
        if name in trainer.scalers:
            trainer.scalers[name].load_state_dict(state)
    torch.set_rng_state(checkpoint.rng("cpu"))
    trainer.noise.set_state(checkpoint.rng("noise").to(trainer.noise.get_state().device))
    if trainer.device.type == "cuda" and checkpoint.rng("cuda") is not None:
        torch.cuda.set_rng_state(checkpoint.rng("cuda"), trainer.device)
    trainer.loader.load_state(checkpoint.meta("data"))
    recorded = checkpoint.meta("stage")
    trainer.step = checkpoint.step
    if recorded is not None and recorded not in trainer.plan.names:
        raise CheckpointError(f"{where}: checkpoint is in stage '{recorded}', which model "
                              f"'{trainer.model.name}' does not have ({', '.join(trainer.plan.names)})")


def load_weights(trainer: Trainer, checkpoint: ckpt.Checkpoint) -> list[str]:
    """``--init-from``: the weights (and EMA) of every network the checkpoint has, nothing else; returns their
    names. An earlier stage's run starts a later stage this way."""
    if checkpoint.model != trainer.model.name:
        raise CheckpointError(f"{checkpoint.path}: checkpoint is from model '{checkpoint.model}', "
                              f"not '{trainer.model.name}'")
    loaded = [name for name in trainer.modules if checkpoint.has_module(name)]
    if not loaded:
        raise CheckpointError(f"{checkpoint.path}: no network of model '{trainer.model.name}' in this checkpoint")
    for name in loaded:
        checkpoint.load_module(name, trainer.modules[name])
        if name in trainer.emas:
            prefix = "ema" if checkpoint.has_module(name, "ema") else "net"
            checkpoint.load_module(name, trainer.emas[name].module, prefix=prefix)
    return loaded
