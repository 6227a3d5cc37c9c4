"""CycleGAN's networks: shapes, the 70 x 70 receptive field and paper 001's Table 1 counts."""

from __future__ import annotations

import pytest
import torch

from gankit_core import api
from gankit_core.errors import ConfigError


def trainable(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_table_1_cyclegan_generator_count():
    assert trainable(api.create_component("generator", "resnet", image_size=256, width=64, n_blocks=9)) == 11_378_179


def test_table_1_cyclegan_discriminator_count():
    assert trainable(api.create_component("discriminator", "patchgan", width=64, layers=3)) == 2_764_737


def test_generator_keeps_the_image_size_and_range():
    generator = api.create_component("generator", "resnet", image_size=32, width=8, n_blocks=2)
    out = generator(torch.randn(2, 3, 32, 32) * 5)
    assert out.shape == (2, 3, 32, 32) and out.abs().max() <= 1


def test_patchgan_receptive_field_is_70_pixels():
    discriminator = api.create_component("discriminator", "patchgan", width=4, layers=3, image_size=128)
    for index, layer in enumerate(discriminator.main):  # instance norm couples every pixel: take it out
        if isinstance(layer, torch.nn.InstanceNorm2d):
            discriminator.main[index] = torch.nn.Identity()
    image = torch.zeros(1, 3, 128, 128, requires_grad=True)
    logits = discriminator(image)
    assert logits.shape == (1, 1, 14, 14)
    logits[0, 0, 7, 7].backward()
    rows, cols = image.grad[0].abs().sum(0).nonzero(as_tuple=True)
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70


def test_bad_sizes_are_config_errors():
    with pytest.raises(ConfigError, match="divisible by 4"):
        api.create_component("generator", "resnet", image_size=30)
    with pytest.raises(ConfigError, match="needs images of 24 px or more"):
        api.create_component("discriminator", "patchgan", layers=3, image_size=16)


def test_a_residual_generator_with_identity_start_starts_as_the_identity_and_learns():
    """The gankit option (CycleGAN's generator draws the whole image): the model's N(0, 0.02) initialisation keeps
    the zeroed last conv, so the image passes unchanged, and one optimizer step already changes the output."""
    from gankit_core.weights import init_weights

    generator = api.create_component("generator", "resnet", image_size=32, width=8, n_blocks=2, residual=True,
                                     identity_start=True)
    generator.apply(init_weights)
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(generator(image), image)
    optimizer = torch.optim.Adam(generator.parameters(), lr=1e-3)
    (generator(image) - image.flip(-1)).abs().mean().backward()
    optimizer.step()
    assert not torch.equal(generator(image), image)
    with pytest.raises(ConfigError, match="identity_start needs residual"):
        api.create_component("generator", "resnet", image_size=32, identity_start=True)
