"""DCGAN's networks: no fully connected hidden layers, strided convs in D, fractionally-strided in G."""

from __future__ import annotations

import math

import torch
from torch import nn

from gankit_core.errors import ConfigError
from gankit_core.interfaces import Discriminator, Generator


def _block_count(image_size: int) -> int:
    """Up/down-sampling stages between 4x4 and the image: 4 at 64x64 (4 -> 8 -> 16 -> 32 -> 64)."""
    stages = math.log2(image_size) - 2
    if not stages.is_integer() or not 3 <= stages <= 5:
        raise ConfigError(f"DCGAN supports image sizes 32, 64 and 128, not {image_size}")
    return int(stages)


def _activation(name: str, slope: float) -> nn.Module:
    if name == "leaky_relu":
        return nn.LeakyReLU(slope, inplace=True)
    if name == "relu":
        return nn.ReLU(inplace=True)
    raise ConfigError(f"activation must be 'leaky_relu' or 'relu', not {name!r}")


class DCGANGenerator(Generator):
    """z (N x latent x 1 x 1) -> image (N x 3 x S x S) in [-1, 1]. Convolutions are bias-free as in the
    reference (batch norm's shift makes a bias redundant)."""

    def __init__(self, latent_dim: int = 100, width: int = 64, image_size: int = 64,
                 activation: str = "leaky_relu", slope: float = 0.2) -> None:
        super().__init__()
        stages = _block_count(image_size)
        self.latent_dim = latent_dim
        channels = width * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, channels, 4, 1, 0, bias=False),
            nn.BatchNorm2d(channels),
            _activation(activation, slope),
        ]
        for _ in range(stages - 1):
            layers += [
                nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(channels // 2),
                _activation(activation, slope),
            ]
            channels //= 2
        layers += [nn.ConvTranspose2d(channels, 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.zeros(2, self.latent_dim, 1, 1),)


class DCGANDiscriminator(Discriminator):
    """image (N x 3 x S x S) -> one logit per image (N). No batch norm on the first layer, as in DCGAN."""

    def __init__(self, width: int = 64, image_size: int = 64, slope: float = 0.2) -> None:
        super().__init__()
        stages = _block_count(image_size)
        self.image_size = image_size
        layers: list[nn.Module] = [nn.Conv2d(3, width, 4, 2, 1, bias=False), nn.LeakyReLU(slope, inplace=True)]
        channels = width
        for _ in range(stages - 1):
            layers += [
                nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(channels * 2),
                nn.LeakyReLU(slope, inplace=True),
            ]
            channels *= 2
        # Logits, not probabilities: BCE-with-logits is stable and safe under autocast.
        layers.append(nn.Conv2d(channels, 1, 4, 1, 0, bias=False))
        self.main = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.main(image).flatten()

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.zeros(2, 3, self.image_size, self.image_size),)
