"""Pads that stay in bf16 under CPU autocast (gankit_core.engine.pads): the same values and gradients as torch's
autocast path, which pads in fp32, bit for bit, and a bf16 training step that is unchanged by them."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
from torch import nn

from gankit_core import api
from gankit_core.engine import placement
from gankit_core.engine.pads import (
    CastFreeReflectionPad2d,
    CastFreeReplicationPad2d,
    keep_pads_in_autocast_dtype,
)
from gankit_core.engine.trainer import Trainer

NHWC, NCHW = torch.channels_last, torch.contiguous_format


def outputs_and_gradients(network: nn.Module, x: torch.Tensor, autocast: bool):
    """The output, the input gradient (kept differentiable) and the weight gradients of a loss on that input
    gradient, as a gradient penalty takes them."""
    x = x.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out = network(x)
    (input_gradient,) = torch.autograd.grad((out.float() ** 2).sum(), x, create_graph=True)
    weight_gradients = torch.autograd.grad(input_gradient.pow(2).sum(), list(network.parameters()))
    return out, input_gradient, weight_gradients


@pytest.mark.parametrize(
    ("pad", "padding", "layout", "autocast"),
    [
        *itertools.product(
            [nn.ReflectionPad2d, nn.ReplicationPad2d], [1, 3, (1, 2, 0, 3)], [NCHW, NHWC], [True]
        ),
        *itertools.product([nn.ReflectionPad2d], [2], [NCHW, NHWC], [False]),
    ],
)
def test_a_network_computes_the_same_with_cast_free_pads(pad, padding, layout, autocast):
    torch.manual_seed(0)
    network = nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.InstanceNorm2d(8), nn.ReLU(True), pad(padding), nn.Conv2d(8, 4, 3), nn.Tanh()
    ).to(memory_format=layout)
    cast_free = keep_pads_in_autocast_dtype(copy.deepcopy(network))
    assert type(cast_free[3]) in (CastFreeReflectionPad2d, CastFreeReplicationPad2d)
    x = torch.randn(2, 3, 16, 16).contiguous(memory_format=layout)
    expected, got = outputs_and_gradients(network, x, autocast), outputs_and_gradients(cast_free, x, autocast)
    assert torch.equal(got[0], expected[0]) and got[0].dtype == expected[0].dtype
    assert torch.equal(got[1], expected[1])
    assert all(torch.equal(a, b) for a, b in zip(got[2], expected[2], strict=True))


@pytest.mark.parametrize(
    ("padding", "layout", "shape", "dtype"),
    itertools.product(
        [1, 3, (2, 0, 1, 3), (1, 2, 3, 1)], [NCHW, NHWC], [(2, 16, 9, 11), (16, 8, 9)], [torch.bfloat16, torch.float32]
    ),
)
def test_the_reflection_gradient_folded_by_slices_is_torchs_fold(padding, layout, shape, dtype):
    """bf16: the fp32 fold rounded once, as autocast's path gives; fp32: torch's own kernel's, bit for bit."""
    # Gradients over many orders of magnitude, so that rounding three times near the corners would show.
    torch.manual_seed(1)
    image = torch.randn(shape).to(dtype)
    image = image.contiguous(memory_format=layout) if image.dim() == 4 else image
    pad = nn.ReflectionPad2d(padding)
    left, right, top, bottom = pad.padding
    padded_shape = (*shape[:-2], shape[-2] + top + bottom, shape[-1] + left + right)
    arriving = (torch.randn(padded_shape) * torch.exp(3 * torch.randn(padded_shape))).to(dtype)
    gradients = []
    for network in (nn.Sequential(pad), keep_pads_in_autocast_dtype(nn.Sequential(copy.deepcopy(pad)))):
        x = image.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = network(x)
        out.backward(arriving.to(out.dtype))
        gradients.append(x.grad)
    assert torch.equal(gradients[1], gradients[0]) and gradients[1].stride() == gradients[0].stride()


def test_the_pad_keeps_bf16_under_autocast_and_fp32_outside():
    pad = keep_pads_in_autocast_dtype(nn.Sequential(nn.ReflectionPad2d(1)))
    image = torch.randn(1, 4, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert pad(image.bfloat16()).dtype == torch.bfloat16
        assert nn.ReflectionPad2d(1)(image.bfloat16()).dtype == torch.float32  # what torch's autocast does
        assert pad(image).dtype == torch.float32  # an fp32 input is torch's own path
    assert torch.equal(pad(image), nn.ReflectionPad2d(1)(image))


def bf16_steps(monkeypatch, cast_free: bool) -> tuple[list[dict[str, float]], dict[str, torch.Tensor]]:
    """Two bf16 cyclegan training steps (small), their losses and the weights after them."""
    if not cast_free:
        monkeypatch.setattr(placement, "keep_pads_in_autocast_dtype", lambda network: network)
    model = api.create_model(
        "cyclegan", image_size=32, batch_size=2, g_width=8, d_width=8, n_blocks=2, pool_size=2
    )
    trainer = Trainer(
        model,
        api.train_settings({"device": "cpu", "precision": "bf16", "progress": False, "seed": 3}),
        write=False,
    )
    pads = [type(m) for m in trainer.modules["gen_a2b"].modules() if isinstance(m, nn.ReflectionPad2d)]
    assert pads and all((kind is CastFreeReflectionPad2d) is cast_free for kind in pads)
    losses = []
    for _ in range(2):
        metrics = trainer.train_on(trainer.prepare_batch(trainer.loader.next()))
        losses.append({name: float(value) for name, value in metrics.items()})
        trainer.step += 1
    trainer.loader.close()
    weights = {
        f"{net}.{name}": p.detach().clone()
        for net, module in trainer.modules.items()
        for name, p in module.named_parameters()
    }
    return losses, weights


def test_a_bf16_training_step_is_unchanged_by_the_cast_free_pads(monkeypatch):
    losses, weights = bf16_steps(monkeypatch, cast_free=True)
    with monkeypatch.context() as patch:
        plain_losses, plain_weights = bf16_steps(patch, cast_free=False)
    assert losses == plain_losses
    assert all(torch.equal(weights[name], plain_weights[name]) for name in plain_weights)
