"""Fused CPU Adam on channels-last weights (gankit_core.engine.optim): the engine hands it each weight as the
contiguous tensor it is in memory, so torch copies nothing, and the update is the one torch makes, bit for bit."""

from __future__ import annotations

import torch
from torch.profiler import profile

from gankit_core.engine.optim import ScheduledOptimizer
from gankit_core.interfaces import OptimizerSpec

SHAPES = [(64, 32, 4, 4), (16, 3, 3, 3), (8, 8, 1, 1), (37,)]  # 3 x 3 x 3: the two layouts have one shape


def weights() -> list[torch.nn.Parameter]:
    torch.manual_seed(0)
    return [
        torch.nn.Parameter(
            torch.randn(shape).contiguous(
                memory_format=torch.channels_last if len(shape) == 4 else torch.contiguous_format
            )
        )
        for shape in SHAPES
    ]


def set_gradients(params: list[torch.nn.Parameter], seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    for param in params:
        param.grad = torch.randn(param.shape, generator=generator).contiguous(
            memory_format=torch.channels_last if param.dim() == 4 else torch.contiguous_format
        )


def test_fused_adam_on_channels_last_weights_is_torchs_update_without_copies():
    engine_params, torch_params = weights(), weights()
    spec = OptimizerSpec(params=engine_params, lr=1e-2, weight_decay=1e-4)
    engine = ScheduledOptimizer(spec, "constant")
    assert engine.optimizer.defaults.get("fused")
    plain = torch.optim.Adam(torch_params, lr=1e-2, weight_decay=1e-4, fused=True)
    for seed in range(4):
        set_gradients(engine_params, seed)
        set_gradients(torch_params, seed)
        plain.step()
        if seed < 3:
            engine.step()
            continue
        with profile(record_shapes=True) as profiler:
            engine.step()
        weight_copies = [
            event
            for event in profiler.events()
            if event.name == "aten::copy_" and any(len(shape) == 4 for shape in event.input_shapes)
        ]
        assert not weight_copies
    for mine, theirs in zip(engine_params, torch_params, strict=True):
        assert torch.equal(mine, theirs) and mine.shape == theirs.shape and mine.stride() == theirs.stride()
        state, torch_state = engine.optimizer.state[mine], plain.state[theirs]
        for key in ("exp_avg", "exp_avg_sq"):
            assert (
                torch.equal(state[key], torch_state[key]) and state[key].stride() == torch_state[key].stride()
            )
        assert mine.grad.shape == mine.shape
