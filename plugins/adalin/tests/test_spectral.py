"""The spectral-norm conv that divides its output by sigma: torch's spectral norm's values, gradients, power
iteration and checkpoint keys, without dividing a deep layer's weight."""

from __future__ import annotations

import pytest
import torch
from gankit_adalin import networks
from gankit_adalin.spectral import SpectralNormConv2d, spectral_norm_conv
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm
from torch.profiler import profile

from gankit_core import api, matmul_conv


@pytest.fixture(params=[False, True], ids=["conv", "matmul"])
def big_convs_as_matmul(request, monkeypatch):
    """Both forms of the output-divided conv: oneDNN's conv, and (the threshold lowered to every weight) the unfold and
    matrix product a CPU takes for the deep layers of a full-size discriminator."""
    if request.param:
        monkeypatch.setattr(matmul_conv, "MATMUL_WEIGHTS", 0)
    return request.param


def torch_spectral_norm_conv(*args, **kwargs) -> nn.Conv2d:
    return spectral_norm(nn.Conv2d(*args, **kwargs))


def pair(*args, **kwargs) -> tuple[nn.Module, nn.Module]:
    """torch's spectral-norm conv and gankit's, with the same weights and singular vectors, in fp64."""
    theirs = torch_spectral_norm_conv(*args, **kwargs).double()
    ours = spectral_norm_conv(*args, **kwargs).double()
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


def gradients(layer: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
    wanted = [x, layer.parametrizations.weight.original] + ([layer.bias] if layer.bias is not None else [])
    return torch.autograd.grad(layer(x), wanted, grad)


@pytest.mark.parametrize(
    ("channels", "size", "bias"), [((64, 128), 6, True), ((32, 1), 5, False), ((3, 8), 32, True)]
)
def test_matches_torch_spectral_norm_values_gradients_and_power_iteration(channels, size, bias, big_convs_as_matmul):
    """Deep layers (the output divided) and a first layer (the weight divided, as torch does), in training mode:
    three steps of outputs and gradients to x, W and b, and the same u and v after each power iteration."""
    torch.manual_seed(0)
    theirs, ours = pair(*channels, 4, stride=1, bias=bias)
    for _ in range(3):
        x = torch.randn(2, channels[0], size, size, dtype=torch.float64, requires_grad=True)
        out = theirs(x)
        torch.testing.assert_close(ours(x), out, rtol=1e-12, atol=1e-12)
        grad = torch.randn_like(out)
        for expected, got in zip(gradients(theirs, x, grad), gradients(ours, x, grad), strict=True):
            torch.testing.assert_close(got, expected, rtol=1e-11, atol=1e-12)
        for buffer in ("_u", "_v"):
            assert torch.equal(
                getattr(ours.parametrizations.weight[0], buffer),
                getattr(theirs.parametrizations.weight[0], buffer),
            )
    ours.eval()
    theirs.eval()  # eval: no power iteration, the stored vectors
    x = torch.randn(1, channels[0], size, size, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.weight, theirs.weight)  # reading .weight is torch's W / sigma


def test_a_deep_layer_divides_its_output_not_its_weight():
    """The point of the class: no division of the weight, forward or backward, where the output is smaller."""
    layer = spectral_norm_conv(256, 512, 4)
    x = torch.randn(2, 256, 6, 6)
    weight_shape = list(layer.parametrizations.weight.original.shape)
    with profile(record_shapes=True) as profiler:
        layer(x).sum().backward()
    divisions = [event.input_shapes for event in profiler.events() if event.name == "aten::div"]
    assert divisions and not any(weight_shape in shapes for shapes in divisions)
    with profile(record_shapes=True) as profiler:  # torch's spectral norm does divide it: the test can tell
        torch_spectral_norm_conv(256, 512, 4)(x).sum().backward()
    assert any(weight_shape in event.input_shapes for event in profiler.events() if event.name == "aten::div")


def test_the_discriminator_keeps_its_checkpoint_keys_outputs_and_gradients(monkeypatch, big_convs_as_matmul):
    """A U-GAT-IT discriminator built as before (torch's spectral norm on plain convs) and now: the same state_dict
    keys, so checkpoints load either way, and the same logits, CAM logits and weight gradients from it."""
    torch.manual_seed(0)
    ours = api.create_component("discriminator", "ugatit", width=8, layers=5, image_size=64)
    monkeypatch.setattr(networks, "spectral_norm_conv", torch_spectral_norm_conv)
    before = api.create_component("discriminator", "ugatit", width=8, layers=5, image_size=64)
    assert not any(isinstance(module, SpectralNormConv2d) for module in before.modules())
    assert list(ours.state_dict()) == list(before.state_dict())
    before.load_state_dict(ours.state_dict())  # an existing checkpoint loads into the new network, and back
    ours.load_state_dict(before.state_dict())
    ours.double()
    before.double()
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    for _ in range(2):
        results = []
        for network in (before, ours):
            network.zero_grad()
            logits, cam_logits, heatmap = network(x)
            (logits.square().mean() + cam_logits.sum() + heatmap.mean()).backward()
            results.append([logits, cam_logits, *(p.grad for p in network.parameters())])
        for expected, got in zip(*results, strict=True):
            torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    for expected, got in zip(before.state_dict().values(), ours.state_dict().values(), strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)  # the power iterations' vectors too


def test_bf16_autocast_is_as_close_to_exact_as_torchs():
    """Under bf16 autocast the two forms round differently (a bf16 conv of W, then / sigma, against a bf16 conv of
    W / sigma): each is within bf16's resolution of the fp64 result, ours no further than torch's."""
    torch.manual_seed(0)
    theirs = torch_spectral_norm_conv(128, 256, 4).eval()  # eval: the same sigma in every call
    ours = spectral_norm_conv(128, 256, 4).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 128, 8, 8)
    with torch.no_grad():
        exact = theirs.double()(x.double())
        theirs.float()
        with torch.autocast("cpu", torch.bfloat16):
            rounded = {"torch": theirs(x), "gankit": ours(x)}
    assert all(out.dtype == torch.bfloat16 for out in rounded.values())
    error = {
        name: float((out.double() - exact).abs().max() / exact.abs().max()) for name, out in rounded.items()
    }
    assert error["gankit"] < 1e-2 and error["gankit"] < 2 * error["torch"], error
