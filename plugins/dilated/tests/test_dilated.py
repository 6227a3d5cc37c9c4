"""The dilated generator against paper 000's Table I, through `gankit info --layers`."""

import json
import subprocess
import sys

import pytest
import torch
from gankit_dilated.generator import LiveTapConv2d, live_taps
from torch import nn

from gankit_core import api

TABLE_I = [  # (type, kernel, dilation, stride, output channels)
    ("Conv2d", 7, 1, 1, 64), ("Conv2d", 4, 1, 2, 128), ("Conv2d", 4, 1, 2, 256), ("Conv2d", 3, 1, 1, 256),
    ("Conv2d", 3, 2, 1, 256), ("Conv2d", 3, 4, 1, 256), ("Conv2d", 3, 8, 1, 256), ("Conv2d", 3, 16, 1, 256),
    ("Conv2d", 3, 1, 1, 256), ("Conv2d", 3, 1, 1, 256),
    ("ConvTranspose2d", 3, 1, 2, 128), ("ConvTranspose2d", 4, 1, 2, 64), ("Conv2d", 4, 1, 1, 3),
]


def test_table_i_layers_in_gankit_info():
    result = subprocess.run([sys.executable, "-m", "gankit_core", "info", "dilated", "--layers", "--json"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    layers = json.loads(result.stdout)["networks"]["dilated"]["layers"]
    convs = [row for row in layers if row["type"] in ("Conv2d", "LiveTapConv2d", "ConvTranspose2d")]
    # LiveTapConv2d: an nn.Conv2d (the dilated rows) that leaves out the taps reading only padding
    kinds = [(row["type"].replace("LiveTap", ""), row["output"][0]) for row in convs]
    assert kinds == [(t, c) for t, _, _, _, c in TABLE_I]
    sizes = [row["output"][1] for row in convs]
    assert sizes == [128, 64, 32, 32, 32, 32, 32, 32, 32, 32, 64, 128, 128]
    norms = [row["type"] for row in layers].count("InstanceNorm2d")
    assert norms == 12 and layers[-1]["type"] == "Tanh"


def test_kernels_dilations_and_strides_match_table_i():
    generator = api.create_component("generator", "dilated")
    convs = [m for m in generator.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    rows = [(type(m).__name__.replace("LiveTap", ""), m.kernel_size[0], m.dilation[0], m.stride[0], m.out_channels)
            for m in convs]
    assert rows == TABLE_I


@pytest.mark.parametrize("size", [64, 96, 128, 256])
def test_output_size_equals_input_size(size):
    generator = api.create_component("generator", "dilated", width=8, image_size=size)
    out = generator(torch.rand(2, 3, size, size) * 2 - 1)
    assert out.shape == (2, 3, size, size) and out.abs().max() <= 1


def test_usable_in_another_model():
    """The generator is a registry component: any model can ask for it by name."""
    from gankit_core.interfaces import Generator

    assert isinstance(api.create_component("generator", "dilated", width=4, image_size=64), Generator)


def test_residual_identity_start_returns_its_input_and_still_learns():
    generator = api.create_component("generator", "dilated", width=4, image_size=64, residual=True, identity_start=True)
    image = torch.rand(2, 3, 64, 64) * 2 - 1
    assert torch.equal(generator(image), image)  # the residual branch starts at exactly zero
    loss = (generator(image) - image.flip(-1)).abs().mean()
    loss.backward()
    last = [m for m in generator.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    assert last.weight.grad.abs().sum() > 0  # the zeroed conv gets gradients, so G can move off the identity


def test_identity_start_needs_residual():
    from gankit_core.errors import ConfigError

    with pytest.raises(ConfigError, match="identity_start needs residual"):
        api.create_component("generator", "dilated", width=4, image_size=64, identity_start=True)


def test_live_taps_are_the_taps_that_read_a_pixel():
    assert live_taps(16, 3, 1, 16, 16) == (1, 1)  # dilation 16 on 16 px: only the centre reads the map
    assert live_taps(16, 3, 1, 8, 8) == (0, 2)  # dilation 8: every tap reads half the positions
    assert live_taps(2, 4, 2, 1, 1) == (1, 2)  # 4x4 stride 2 on 2 px: the middle two taps
    assert live_taps(32, 3, 1, 16, 16) == (0, 2)


@pytest.mark.parametrize(("dilation", "size"), [(16, 16), (16, 8), (8, 16), (2, 16), (16, 32)])
def test_a_conv_without_its_padding_only_taps_is_the_conv_with_its_gradients(dilation, size):
    torch.manual_seed(0)
    live = LiveTapConv2d(8, 6, 3, 1, dilation, dilation=dilation, bias=True).double()
    plain = nn.Conv2d(8, 6, 3, 1, dilation, dilation=dilation, bias=True).double()
    plain.load_state_dict(live.state_dict())
    image = torch.randn(2, 8, size, size, dtype=torch.float64, requires_grad=True)
    results = []
    for conv in (plain, live):
        out = conv(image)
        grads = torch.autograd.grad((out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum(),
                                    (image, conv.weight, conv.bias))
        results.append((out, *grads))
    for want, have in zip(*results, strict=True):
        assert have.shape == want.shape and torch.allclose(have, want, rtol=1e-12, atol=1e-12)
    if dilation >= size:  # the outer taps read only padding: their weight gradients are exactly zero in both
        assert (results[1][2][:, :, [0, 2]] == 0).all() and (results[1][2][:, :, :, [0, 2]] == 0).all()


def test_the_generator_with_live_tap_convs_is_the_plain_generator_at_64_px():
    """At 64 px the dilation-16 conv works on 16 x 16 maps: without its outer taps the generator's output and every
    gradient are the plain-conv generator's (fp64), with the same checkpoint keys."""
    torch.manual_seed(0)
    generator = api.create_component("generator", "dilated", width=8, image_size=64).double()
    plain = api.create_component("generator", "dilated", width=8, image_size=64).double()
    for index, module in enumerate(plain.main):
        if isinstance(module, LiveTapConv2d):
            plain.main[index] = nn.Conv2d(module.in_channels, module.out_channels, 3, 1, module.padding,
                                          dilation=module.dilation, bias=False).double()
    plain.load_state_dict(generator.state_dict())
    assert list(plain.state_dict()) == list(generator.state_dict())
    image = torch.rand(2, 3, 64, 64, dtype=torch.float64, requires_grad=True)
    results = []
    for network in (plain, generator):
        out = network(image)
        results.append((out, *torch.autograd.grad(out.pow(2).sum(), (image, *network.parameters()))))
    for want, have in zip(*results, strict=True):
        assert torch.allclose(have, want, rtol=1e-10, atol=1e-12)
