"""The dilated generator against paper 000's Table I, through `gankit info --layers`."""

import json
import subprocess
import sys

import pytest
import torch

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
    convs = [row for row in layers if row["type"] in ("Conv2d", "ConvTranspose2d")]
    assert [(row["type"], row["output"][0]) for row in convs] == [(t, c) for t, _, _, _, c in TABLE_I]
    sizes = [row["output"][1] for row in convs]
    assert sizes == [128, 64, 32, 32, 32, 32, 32, 32, 32, 32, 64, 128, 128]
    norms = [row["type"] for row in layers].count("InstanceNorm2d")
    assert norms == 12 and layers[-1]["type"] == "Tanh"


def test_kernels_dilations_and_strides_match_table_i():
    generator = api.create_component("generator", "dilated")
    convs = [m for m in generator.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert [(type(m).__name__, m.kernel_size[0], m.dilation[0], m.stride[0], m.out_channels) for m in convs] == TABLE_I


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
