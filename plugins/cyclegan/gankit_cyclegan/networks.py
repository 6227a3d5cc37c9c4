"""CycleGAN's networks (Zhu et al. 2017, appendix 7.2), the baseline of paper 001's Table 1.

Generator ``resnet``: c7s1-64, d128, d256, nine R256 residual blocks, u128, u64, c7s1-3, reflection
padding and instance norm (no affine, so convs keep their biases, as the reference's
``use_bias = norm is InstanceNorm2d``): 11,378,179 trainable parameters at width 64.
Discriminator ``patchgan``: the 70 x 70 PatchGAN C64-C128-C256-C512 (3 stride-2 layers, one stride-1,
then a 1-channel conv), instance norm after all but the first: 2,764,737 parameters at width 64.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit_core.classical import ResidualFilter, residual_base
from gankit_core.errors import ConfigError
from gankit_core.interfaces import Discriminator, Generator
from gankit_core.weights import start_at_zero

DOWNSAMPLINGS = 2


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(Generator):
    """image (N x C_in x S x S) -> image (N x C_out x S x S) in [-1, 1]; S divisible by 4.

    ``residual`` (a gankit option, not CycleGAN's) adds the tanh output to the input image; ``identity_start``
    then zeroes the last conv (kept at zero by ``init_weights``), so the generator starts as the exact identity.
    """

    def __init__(self, image_size: int = 256, width: int = 64, in_channels: int = 3, out_channels: int = 3,
                 n_blocks: int = 9, residual: bool = False, identity_start: bool = False,
                 base: str = "input", residual_blur: float = 0.0, residual_shrink: float = 0.0) -> None:
        super().__init__()
        if image_size % 2**DOWNSAMPLINGS:
            raise ConfigError(f"the resnet generator needs an image size divisible by 4, not {image_size}")
        if n_blocks < 0:
            raise ConfigError(f"n_blocks must be 0 or more, not {n_blocks}")
        if identity_start and not residual:
            raise ConfigError("identity_start needs residual=true: only a residual generator can start as the identity")
        if base != "input" and not residual:
            raise ConfigError(f"base={base} needs residual=true: only a residual generator adds its output to a base")
        if (residual_blur or residual_shrink) and not residual:
            raise ConfigError("residual_blur and residual_shrink need residual=true: they filter what a residual "
                              "generator adds")
        if residual and in_channels != out_channels:
            raise ConfigError(f"a residual generator adds its output to its input: {in_channels} input channels "
                              f"cannot take {out_channels} output channels")
        self.base = residual_base(base, image_size)  # the identity unless a classical tool is named
        self.residual_filter = ResidualFilter(image_size, residual_blur, residual_shrink)
        self.image_size, self.in_channels, self.residual = image_size, in_channels, residual
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7), nn.InstanceNorm2d(width),
                                   nn.ReLU(True)]
        for level in range(DOWNSAMPLINGS):
            c = width * 2**level
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.InstanceNorm2d(2 * c), nn.ReLU(True)]
        layers += [ResidualBlock(width * 2**DOWNSAMPLINGS) for _ in range(n_blocks)]
        for level in range(DOWNSAMPLINGS, 0, -1):
            c = width * 2**level
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
                       nn.InstanceNorm2d(c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        if identity_start:
            start_at_zero(self.main[-2])  # tanh(0) = 0: the image passes unchanged; init_weights leaves it so

    def forward(self, image: Tensor) -> Tensor:
        out = self.main(image)
        return (self.base(image) + self.residual_filter(out)).clamp(-1, 1) if self.residual else out

    def example_inputs(self) -> tuple[Tensor, ...]:
        return (torch.zeros(2, self.in_channels, self.image_size, self.image_size),)


class PatchGANDiscriminator(Discriminator):
    """image (N x C_in x S x S) -> patch logits (N x 1 x h x w); each logit sees 70 x 70 px with 3 layers."""

    def __init__(self, width: int = 64, in_channels: int = 3, layers: int = 3, image_size: int = 256) -> None:
        super().__init__()
        if layers < 1:
            raise ConfigError(f"the patchgan discriminator needs at least 1 layer, not {layers}")
        if image_size // 2**layers < 3:  # the two stride-1 4x4 convs (padding 1) each shrink the map by one
            raise ConfigError(f"a {layers}-layer patchgan needs images of {3 * 2**layers} px or more, not {image_size}")
        self.in_channels, self.image_size = in_channels, image_size
        body: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        channels = width
        for level in range(1, layers + 1):
            out = width * 2 ** min(level, 3)
            stride = 2 if level < layers else 1
            body += [nn.Conv2d(channels, out, 4, stride=stride, padding=1), nn.InstanceNorm2d(out),
                     nn.LeakyReLU(0.2, True)]
            channels = out
        body.append(nn.Conv2d(channels, 1, 4, padding=1))
        self.main = nn.Sequential(*body)

    def forward(self, image: Tensor) -> Tensor:
        return self.main(image)

    def example_inputs(self) -> tuple[Tensor, ...]:
        return (torch.zeros(2, self.in_channels, self.image_size, self.image_size),)
