"""HingeDCGAN: the DCGAN recipe with its discriminator and loss swapped through the registry."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from gankit_dcgan.model import DCGAN, DCGANConfig
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gankit_core.interfaces import Discriminator, Preset


class SpectralNormDiscriminator(Discriminator):
    """DCGAN's strided-conv discriminator with every conv spectrally normalised and no batch norm."""

    def __init__(self, width: int = 64, image_size: int = 64, slope: float = 0.2) -> None:
        super().__init__()
        self.image_size = image_size
        stages = image_size.bit_length() - 3
        layers: list[nn.Module] = []
        channels_in, channels_out = 3, width
        for _ in range(stages):
            layers += [spectral_norm(nn.Conv2d(channels_in, channels_out, 4, 2, 1)), nn.LeakyReLU(slope)]
            channels_in, channels_out = channels_out, channels_out * 2
        layers.append(spectral_norm(nn.Conv2d(channels_in, 1, 4, 1, 0)))
        self.main = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.main(image).flatten()

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        """What ``gankit info sn-dcgan --layers`` traces the network with."""
        return (torch.zeros(2, 3, self.image_size, self.image_size),)


@dataclass
class HingeDCGANConfig(DCGANConfig):
    loss: str = "hinge"
    discriminator: str = "sn-dcgan"
    beta1: float = 0.0  # SNGAN's Adam settings
    beta2: float = 0.9


class HingeDCGAN(DCGAN):
    """DCGAN with a spectral-norm discriminator trained with the hinge loss (SNGAN's recipe)."""

    name = "hinge-dcgan"
    Config = HingeDCGANConfig
    # Its own presets: DCGAN's `cpu` preset was measured with DCGAN's discriminator and loss, not these.
    presets = {"paper": Preset("SNGAN's discriminator and hinge loss on DCGAN's layout (the defaults)")}
