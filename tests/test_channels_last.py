"""Channels-last placement (gankit_core.engine.layout): instance norms whose gradients stay right for a batch of one
image, where torch's own are wrong once the gradient arriving is channels-last, and training steps that match NCHW."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from gankit_core import api
from gankit_core.engine.layout import (
    ChannelsLastInstanceNorm2d,
    keep_instance_norms_correct,
    to_channels_last,
)
from gankit_core.engine.trainer import Trainer

NHWC, NCHW = torch.channels_last, torch.contiguous_format


def relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    return float((value.detach().double() - reference.detach()).abs().max() / reference.detach().abs().max())


# "odd": channels-last strides but for the batch's, what a permuted view hands back; one image only, as torch's own
# instance norm, which larger batches use, is wrong there too.
@pytest.mark.parametrize(("batch", "affine", "input_layout", "gradient_layout"), [
    *itertools.product([1], [False, True], [NCHW, NHWC], [NCHW, NHWC, "odd"]),
    *itertools.product([3], [True], [NCHW, NHWC], [NCHW, NHWC]),
])
def test_the_norm_is_instance_norm_in_every_layout(batch, affine, input_layout, gradient_layout):
    torch.manual_seed(0)
    norm = keep_instance_norms_correct(nn.Sequential(nn.InstanceNorm2d(16, affine=affine)))[0]
    if affine:
        nn.init.normal_(norm.weight)
        nn.init.normal_(norm.bias)
    x = torch.randn(batch, 16, 9, 7) * 3 + 1
    upstream = torch.randn(batch, 16, 9, 7)
    x_exact = x.double().requires_grad_(True)
    exact = F.instance_norm(x_exact, weight=norm.weight.double() if affine else None,
                            bias=norm.bias.double() if affine else None)
    (exact_gradient,) = torch.autograd.grad(exact, x_exact, upstream.double())
    if gradient_layout == "odd":
        arriving = rearrange(upstream, "n c h w -> h w n c").contiguous().permute(2, 3, 0, 1)
    else:
        arriving = upstream.contiguous(memory_format=gradient_layout)
    x_layout = x.contiguous(memory_format=input_layout).requires_grad_(True)
    out = norm(x_layout)
    (gradient,) = torch.autograd.grad(out, x_layout, arriving)
    assert relative_error(out, exact) < 1e-5 and relative_error(gradient, exact_gradient) < 1e-5
    if batch > 1:  # torch's own computation, bit for bit
        assert torch.equal(out, F.instance_norm(x_layout, weight=norm.weight, bias=norm.bias))


def test_only_plain_instance_norms_change_and_the_networks_state_stays():
    network = nn.Sequential(nn.Conv2d(3, 8, 3), nn.InstanceNorm2d(8, affine=True), nn.ReLU(),
                            nn.InstanceNorm2d(8, track_running_stats=True), nn.BatchNorm2d(8))
    keys, parameters = list(network.state_dict()), [id(p) for p in network.parameters()]
    norm = network[1]
    to_channels_last(network)
    assert network[1] is norm and type(norm) is ChannelsLastInstanceNorm2d and isinstance(norm, nn.InstanceNorm2d)
    assert type(network[3]) is nn.InstanceNorm2d  # running statistics: left to torch
    assert list(network.state_dict()) == keys and [id(p) for p in network.parameters()] == parameters
    assert network[0].weight.is_contiguous(memory_format=NHWC)
    single = torch.randn(1, 8, 12, 12).contiguous(memory_format=NHWC)
    assert norm(single).is_contiguous(memory_format=NHWC)
    torch.testing.assert_close(norm(single), F.instance_norm(single, weight=norm.weight, bias=norm.bias))


def first_step_gradients(batch_size: int, channels_last: str) -> dict[str, torch.Tensor]:
    """Every weight gradient a cyclegan training step leaves (the generators' from their step, the discriminators'
    from theirs), on a batch of ``batch_size`` pairs."""
    model = api.create_model("cyclegan", image_size=32, batch_size=batch_size, g_width=8, d_width=8, n_blocks=2,
                             pool_size=2)
    trainer = Trainer(model, api.train_settings({"device": "cpu", "precision": "fp32", "progress": False,
                                                 "channels_last": channels_last, "seed": 3}), write=False)
    trainer.train_on(trainer.prepare_batch(trainer.loader.next()))
    trainer.loader.close()
    return {f"{net}.{name}": p.grad.clone() for net, module in trainer.modules.items()
            for name, p in module.named_parameters() if p.dim() > 1}


@pytest.mark.parametrize("batch_size", [1, 2])
def test_a_channels_last_training_step_has_the_nchw_steps_gradients(batch_size):
    # At batch size 1 the reconstruction and discriminator passes see one image; with torch's instance norm their
    # channels-last gradients were wrong by 65 % of the gradient.
    nhwc, nchw = first_step_gradients(batch_size, "on"), first_step_gradients(batch_size, "off")
    for name, gradient in nchw.items():
        assert relative_error(nhwc[name], gradient) < 1e-4, name


@pytest.mark.parametrize(("name", "precision", "expected"), [
    ("cyclegan", "fp32", False),  # instance norms: NCHW on a CPU, at any precision
    ("cyclegan", "bf16", False),
    ("dcgan", "fp32", True),  # batch norms keep the layout
])
def test_auto_channels_last_on_a_cpu(name, precision, expected):
    overrides = {"g_width": 8, "d_width": 8, "n_blocks": 1} if name == "cyclegan" else {"g_features": 8, "d_features": 8}
    model = api.create_model(name, image_size=32, batch_size=2, **overrides)
    trainer = Trainer(model, api.train_settings({"device": "cpu", "precision": precision, "progress": False}),
                      write=False)
    trainer.loader.close()
    assert trainer.placement.channels_last is expected
    convolution = next(m for m in trainer.modules.values() if any(True for _ in m.parameters()))
    weight = next(p for p in convolution.parameters() if p.dim() == 4)
    assert weight.is_contiguous(memory_format=NHWC) is expected
