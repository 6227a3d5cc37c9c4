"""CREGAN's generator (paper 000, Table I): image -> image of the same size.

Table I leaves the paddings open; these keep every stage's size exact for any input divisible by 4:
7x7 conv pad 3; 4x4 stride-2 convs pad 1 (halve); 3x3 convs pad 1; a dilated 3x3 with dilation r
pad r; the 3x3 stride-2 transposed conv pad 1 with output_padding 1 (doubles exactly); the 4x4
stride-2 transposed conv pad 1 (doubles); and the final 4x4 stride-1 conv, whose even kernel needs
an asymmetric pad, is preceded by a zero pad of 1 left/top and 2 right/bottom. Convolutions followed
by instance norm have no bias (the norm removes it); the last conv has one.

``residual=True`` (a gankit option, not Table I) adds the network's Tanh output to its input, so G
predicts a correction to the image rather than the image; ``identity_start=True`` then zeroes the last
conv so that G starts as the exact identity (as a zero-initialised residual branch does).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit_core.errors import ConfigError
from gankit_core.interfaces import Generator

DILATIONS = (2, 4, 8, 16)


def live_taps(size: int, kernel: int, stride: int, padding: int, dilation: int) -> tuple[int, int]:
    """The first and last kernel taps (along one axis) that read a pixel of a ``size``-long input for some output
    position; the taps outside that range read only padding."""
    out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    live = [tap for tap in range(kernel)
            if any(0 <= position * stride - padding + tap * dilation < size for position in range(out))]
    return (live[0], live[-1]) if live else (0, kernel - 1)


class LiveTapConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters and keys, zero padding) that leaves out the kernel taps which read only
    padding at the input's size: a conv with the live taps' slice of the weight and the padding that keeps every
    output position where it was. The same sums without their zero terms; the left-out taps' weight gradients are
    zero, as they are through the full conv."""

    def forward(self, image: Tensor) -> Tensor:
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        (top, bottom), (left, right) = (live_taps(image.shape[-2], kh, sh, ph, dh),
                                        live_taps(image.shape[-1], kw, sw, pw, dw))
        pads = (ph - top * dh, ph - (kh - 1 - bottom) * dh, pw - left * dw, pw - (kw - 1 - right) * dw)
        if (top, bottom, left, right) == (0, kh - 1, 0, kw - 1) or pads[0] != pads[1] or pads[2] != pads[3] \
                or min(pads) < 0 or self.padding_mode != "zeros":
            return super().forward(image)
        weight = self.weight[:, :, top:bottom + 1, left:right + 1]
        return F.conv2d(image, weight, self.bias, self.stride, (pads[0], pads[2]), self.dilation, self.groups)


def conv_block(conv: nn.Module, channels: int, slope: float) -> list[nn.Module]:
    """conv -> instance norm -> LeakyReLU, as after every op of Tables I and II."""
    return [conv, nn.InstanceNorm2d(channels), nn.LeakyReLU(slope, inplace=True)]


class DilatedGenerator(Generator):
    """CREGAN's dilated-convolution generator (paper 000, Table I); ``width`` is Table I's 64."""

    def __init__(self, width: int = 64, image_size: int = 128, slope: float = 0.2, channels: int = 3,
                 residual: bool = False, identity_start: bool = False) -> None:
        super().__init__()
        if image_size % 4 or not 32 <= image_size <= 512:
            raise ConfigError(f"the dilated generator needs an image size divisible by 4 in 32..512, not {image_size}")
        if identity_start and not residual:
            raise ConfigError("identity_start needs residual: only a residual generator can start as the identity")
        self.image_size, self.channels, self.residual = image_size, channels, residual
        w1, w2, w4 = width, width * 2, width * 4
        layers: list[nn.Module] = []
        layers += conv_block(nn.Conv2d(channels, w1, 7, 1, 3, bias=False), w1, slope)
        layers += conv_block(nn.Conv2d(w1, w2, 4, 2, 1, bias=False), w2, slope)
        layers += conv_block(nn.Conv2d(w2, w4, 4, 2, 1, bias=False), w4, slope)
        layers += conv_block(nn.Conv2d(w4, w4, 3, 1, 1, bias=False), w4, slope)
        for dilation in DILATIONS:
            layers += conv_block(LiveTapConv2d(w4, w4, 3, 1, dilation, dilation=dilation, bias=False), w4, slope)
        for _ in range(2):
            layers += conv_block(nn.Conv2d(w4, w4, 3, 1, 1, bias=False), w4, slope)
        layers += conv_block(nn.ConvTranspose2d(w4, w2, 3, 2, 1, output_padding=1, bias=False), w2, slope)
        layers += conv_block(nn.ConvTranspose2d(w2, w1, 4, 2, 1, bias=False), w1, slope)
        layers += [nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(w1, channels, 4, 1, 0), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        if identity_start:
            last = self.main[-2]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out = self.main(image)
        return image + out if self.residual else out

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.zeros(2, self.channels, self.image_size, self.image_size),)
