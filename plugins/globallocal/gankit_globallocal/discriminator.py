"""CREGAN's global-local discriminator (paper 000, Table II).

Two branches of six 4x4 stride-2 convs (64, 128, 256, 512, 1024, 1024 channels), each followed by
instance norm and LeakyReLU: the global branch on the image, the local branch on the image times
the local mask. Their outputs are concatenated (2048 channels) and a 3x3 conv gives a map of
scores, averaged to one score per image (a WGAN critic: no sigmoid). Instance norm is skipped on a
layer whose output is 1x1 (64 px input), where it would zero the features.

On a CPU the convs with 4M weights or more (the last two of each branch at width 64) compute as an unfold and one
matrix product (``MatmulConv2d``, ``gankit_core.matmul_conv``): the same sums, which oneDNN's bf16 convolution
kernels ran 1.4-3.3x slower at these shapes (docs/speed.md). Parameters and checkpoint keys are a plain
``nn.Conv2d``'s.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit_core.errors import ConfigError
from gankit_core.interfaces import Discriminator
from gankit_core.matmul_conv import computes_faster_as_matmul, conv2d_as_matmul

WIDTHS = (1, 2, 4, 8, 16, 16)  # x width: Table II's 64 ... 1024, 1024


class MatmulConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters and keys) that computes as ``conv2d_as_matmul`` on a CPU when it holds
    ``MATMUL_WEIGHTS`` weights or more, where oneDNN's kernels are slower; elsewhere as ``nn.Conv2d``."""

    def forward(self, image: Tensor) -> Tensor:
        if not computes_faster_as_matmul(image, self.weight, self.padding_mode):
            return super().forward(image)
        return conv2d_as_matmul(image, self.weight, self.bias, self.stride, self.padding, self.dilation)


def branch(width: int, image_size: int, slope: float, channels: int = 3) -> nn.Sequential:
    layers: list[nn.Module] = []
    size, previous = image_size, channels
    for factor in WIDTHS:
        out = width * factor
        size //= 2
        layers.append(MatmulConv2d(previous, out, 4, 2, 1, bias=size == 1))
        if size > 1:
            layers.append(nn.InstanceNorm2d(out))
        layers.append(nn.LeakyReLU(slope, inplace=True))
        previous = out
    return nn.Sequential(*layers)


class GlobalLocalDiscriminator(Discriminator):
    """CREGAN's global + local critic (paper 000, Table II): ``forward(image, local_mask)`` -> N scores."""

    def __init__(self, width: int = 64, image_size: int = 128, slope: float = 0.2, channels: int = 3) -> None:
        super().__init__()
        if image_size % 64 or not 64 <= image_size <= 512:
            raise ConfigError(f"the global-local discriminator needs 64, 128, 192 ... 512 px (six halvings), not {image_size}")
        self.image_size, self.channels = image_size, channels
        self.global_branch = branch(width, image_size, slope, channels)
        self.local_branch = branch(width, image_size, slope, channels)
        self.score = nn.Conv2d(width * 16 * 2, 1, 3, 1, 1)

    def forward(self, image: torch.Tensor, local_mask: torch.Tensor) -> torch.Tensor:
        features = torch.cat([self.global_branch(image), self.local_branch(image * local_mask)], dim=1)
        return self.score(features).flatten(1).mean(1)

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        size = self.image_size
        return (torch.zeros(2, self.channels, size, size), torch.ones(2, 1, size, size))
