"""Paper 003's networks: the modified U-Net (Table 1), the spectral-norm Markov discriminator (Table 2) and the
facial-feature-point fusion autoencoder (Eq. 1, Fig. 2).

Each Table row is one ``TableRow`` module, so ``gankit info --layers`` lists the rows the paper
prints (its leaves, conv/norm/activation, are not repeated). Images are N x C x H x W; the tables write (H, W, C).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from gankit_core.errors import ConfigError
from gankit_core.interfaces import Discriminator, Generator, TableRow
from gankit_core.weights import start_at_zero

SLOPE = 0.2  # LeakyReLU's negative slope (section III.B: k = 0.2)


def unet_depth(image_size: int) -> int:
    """Down-sampling layers from the image to a 2 x 2 map: 7 at 256 px (Table 1), 5 at 64 px."""
    depth = math.log2(image_size) - 1
    if not depth.is_integer() or not 4 <= depth <= 8:
        raise ConfigError(f"the U-Net needs a power-of-two image size from 32 to 512, not {image_size}")
    return int(depth)


def channel_plan(width: int, depth: int) -> list[int]:
    """Channels of the down-sampling rows: 64, 128, 256, 512, 512, 512, 512 for Table 1 (width 64, depth 7)."""
    return [width * min(2**index, 8) for index in range(depth)]


class Row(TableRow):
    """One row of the paper's tables: its layers in order."""


def down_row(in_channels: int, out_channels: int, first: bool) -> Row:
    """Down-sampling row: LeakyReLU, 4x4 stride-2 conv, batch norm; the first row is the bare conv (pix2pix's
    outermost layer: the input is an image, not a feature map to activate)."""
    if first:
        return Row(nn.Conv2d(in_channels, out_channels, 4, 2, 1))
    return Row(nn.LeakyReLU(SLOPE), nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=False),
               nn.BatchNorm2d(out_channels))


def up_row(in_channels: int, out_channels: int) -> Row:
    """Up-sampling row: ReLU, 4x4 stride-2 transposed conv, batch norm."""
    return Row(nn.ReLU(), nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False),
               nn.BatchNorm2d(out_channels))


class UNet(Generator):
    """The modified U-Net of paper 003, Table 1: target image + landmark image (4 channels) -> face (3 channels).

    At 256 px: seven down-sampling rows to (2, 2, 512), a bottleneck at (2, 2, 512), six up-sampling rows to
    (128, 128, 64) and a Tanh output row to (256, 256, 3); each up row also reads the down row of its size (skip
    connections). Other power-of-two sizes keep the 2 x 2 bottleneck with fewer rows (five at 64 px).

    ``residual=True`` (a gankit option, not Table 1) adds the Tanh row's output to the input image (the first
    ``out_channels`` input channels) and clamps to [-1, 1], so the network predicts a correction to the target
    rather than the whole face; ``identity_start=True`` then zeroes the output row's transposed conv, so the U-Net
    starts as the exact identity (its output is the target). Neither changes Table 1's rows.
    """

    def __init__(self, image_size: int = 256, width: int = 64, in_channels: int = 4, out_channels: int = 3,
                 residual: bool = False, identity_start: bool = False) -> None:
        super().__init__()
        if identity_start and not residual:
            raise ConfigError("identity_start needs residual: only a residual U-Net can start as the identity")
        if residual and in_channels < out_channels:
            raise ConfigError(f"a residual U-Net adds its output to its input: {in_channels} input channels cannot "
                              f"hold a {out_channels}-channel image")
        self.image_size, self.in_channels, self.out_channels = image_size, in_channels, out_channels
        self.residual = residual
        channels = channel_plan(width, unet_depth(image_size))
        self.downs = nn.ModuleList(
            down_row(c_in, c_out, first=index == 0)
            for index, (c_in, c_out) in enumerate(zip([in_channels, *channels[:-1]], channels, strict=True)))
        deepest = channels[-1]
        # A 4x4 kernel cannot keep a 2x2 map with symmetric padding; 3x3 with padding 1 already sees all of it.
        self.bottleneck = Row(nn.LeakyReLU(SLOPE), nn.Conv2d(deepest, deepest, 3, 1, 1, bias=False),
                              nn.BatchNorm2d(deepest), nn.ReLU())
        # Up row i reads the previous row's output and its skip (the down row of the same size): twice the channels.
        ups = []
        previous = deepest
        for skip, out in zip(channels[::-1][:-1], channels[::-1][1:], strict=True):
            ups.append(up_row(previous + skip, out))
            previous = out
        self.ups = nn.ModuleList(ups)
        self.output = Row(nn.ReLU(), nn.ConvTranspose2d(previous + channels[0], out_channels, 4, 2, 1), nn.Tanh())
        if identity_start:
            start_at_zero(self.output[1])

    def forward(self, x: Tensor) -> Tensor:
        image = x[:, :self.out_channels]
        skips = []
        for row in self.downs:
            x = row(x)
            skips.append(x)
        x = self.bottleneck(x)
        for row in self.ups:
            x = row(torch.cat([x, skips.pop()], 1))
        out = self.output(torch.cat([x, skips.pop()], 1))
        return (image + out).clamp(-1, 1) if self.residual else out

    def example_inputs(self) -> tuple[Tensor, ...]:
        return (torch.zeros(2, self.in_channels, self.image_size, self.image_size),)


class PatchGANSN(Discriminator):
    """The Markov (PatchGAN) discriminator of paper 003, Table 2, with spectral norm where pix2pix has batch norm.

    At 256 px: (128, 128, 64), (64, 64, 128), (32, 32, 256), (31, 31, 512), (30, 30, 1): one logit per 70 x 70
    patch. Logits, not the paper's Sigmoid: the model uses BCE-with-logits, the same maths and safe under autocast.
    Rows 2-3 use ReLU as section III.B writes, row 4 LeakyReLU as Table 2 writes. ``in_channels`` is 6 for the
    conditional pair (P_t, I) of Eq. 7, 1 for D_J over landmark images (Eq. 3).
    """

    def __init__(self, image_size: int = 256, width: int = 64, in_channels: int = 6) -> None:
        super().__init__()
        self.image_size, self.in_channels = image_size, in_channels
        self.rows = nn.Sequential(
            Row(nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(SLOPE)),
            Row(spectral_norm(nn.Conv2d(width, width * 2, 4, 2, 1)), nn.ReLU()),
            Row(spectral_norm(nn.Conv2d(width * 2, width * 4, 4, 2, 1)), nn.ReLU()),
            Row(spectral_norm(nn.Conv2d(width * 4, width * 8, 4, 1, 1)), nn.LeakyReLU(SLOPE)),
            Row(nn.Conv2d(width * 8, 1, 4, 1, 1)),
        )

    def forward(self, *images: Tensor) -> Tensor:
        """Patch logits (N x 1 x h x w) for the images concatenated on channels (a condition and an image)."""
        return self.rows(torch.cat(images, 1) if len(images) > 1 else images[0])

    def example_inputs(self) -> tuple[Tensor, ...]:
        return (torch.zeros(2, self.in_channels, self.image_size, self.image_size),)


class LandmarkFusion(Generator):
    """Phi, the facial-feature-point fusion module (Eq. 1): J_gen = L_t + G_Dec(G_Enc1(L_s), G_Enc2(L_t)).

    ``forward(identity, expression)``: landmark images in [-1, 1] (N x 1 x H x W) of the face whose identity is
    kept (L_t) and of the face whose expression is taken (L_s); returns J_gen, L_t plus a decoded deviation,
    not clamped (losses see the raw sum; callers clamp before display or the U-Net). Two 4-layer strided
    encoders map each image to a 1/16-size code; the decoder reads both codes (cascaded on channels) and, through
    skip connections, G_Enc2's features of L_t, so that the deviation can erase L_t's own contour lines in place.
    The paper's Fig. 2 gives no layer sizes: these are gankit's. ``identity_start=True`` zeroes the output row's
    transposed conv, so the deviation starts at zero and J_gen at L_t.
    """

    def __init__(self, image_size: int = 256, width: int = 32, in_channels: int = 1, depth: int = 4,
                 identity_start: bool = False) -> None:
        super().__init__()
        if image_size % 2**depth:
            raise ConfigError(f"landmark-fusion: image size {image_size} is not divisible by 2^{depth}")
        self.image_size, self.in_channels = image_size, in_channels
        channels = [width * min(2**index, 8) for index in range(depth)]

        def encoder() -> nn.ModuleList:
            return nn.ModuleList(
                down_row(c_in, c_out, first=index == 0)
                for index, (c_in, c_out) in enumerate(zip([in_channels, *channels[:-1]], channels, strict=True)))

        self.expression_encoder = encoder()  # G_Enc1, reads L_s
        self.identity_encoder = encoder()  # G_Enc2, reads L_t
        ups = []
        previous = 2 * channels[-1]  # the two codes, cascaded
        for skip, out in zip(channels[::-1][1:], channels[::-1][1:], strict=True):
            ups.append(up_row(previous, out))
            previous = out + skip
        self.decoder = nn.ModuleList(ups)
        self.output = Row(nn.ReLU(), nn.ConvTranspose2d(previous, in_channels, 4, 2, 1), nn.Tanh())
        if identity_start:
            start_at_zero(self.output[1])

    def forward(self, identity: Tensor, expression: Tensor) -> Tensor:
        code = expression
        for row in self.expression_encoder:
            code = row(code)
        features = []
        x = identity
        for row in self.identity_encoder:
            x = row(x)
            features.append(x)
        x = torch.cat([code, features.pop()], 1)
        for row in self.decoder:
            x = torch.cat([row(x), features.pop()], 1)
        # The deviation spans [-2, 2]: enough to turn a line pixel (1) into background (-1) and back.
        return identity + 2 * self.output(x)

    def example_inputs(self) -> tuple[Tensor, ...]:
        blank = torch.zeros(2, self.in_channels, self.image_size, self.image_size)
        return (blank, blank.clone())  # distinct tensors: traced aliases would merge the inputs
