"""U-GAT-IT's networks (paper 001 Figures 1 and 2): the CAM-attention generator with AdaLIN residual blocks,
and the spectral-norm discriminator with its own CAM, in a global (7-layer) and a local (5-layer) depth.

Layer for layer the public U-GAT-IT design (Kim et al. 2019), so that paper 001's Table 1 counts hold:
with width 64, 4 residual blocks and the light gamma/beta MLP the generator has 10,589,888 trainable
parameters; the 7-layer discriminator has 53,130,176 (tests/test_networks.py checks both).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from gankit_adalin.layers import LIN, AdaLIN
from gankit_adalin.spectral import spectral_norm_conv
from gankit_core.classical import ResidualFilter, residual_base
from gankit_core.errors import ConfigError
from gankit_core.interfaces import Discriminator, Generator
from gankit_core.weights import start_at_zero

DOWNSAMPLINGS = 2  # the generator halves the image twice: a 256 px input gives 64 x 64 feature maps


class ResidualBlock(nn.Module):
    """Encoder block: two reflection-padded 3x3 convs with instance norm (no affine, no bias)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=False), nn.InstanceNorm2d(channels),
            nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=False), nn.InstanceNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class AdaLINResidualBlock(nn.Module):
    """Decoder block: the same two convs with AdaLIN, every block taking the one gamma/beta pair."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv1 = nn.Conv2d(channels, channels, 3, bias=False)
        self.norm1 = AdaLIN(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, bias=False)
        self.norm2 = AdaLIN(channels)

    def forward(self, x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
        out = torch.relu(self.norm1(self.conv1(self.pad(x)), gamma, beta))
        return x + self.norm2(self.conv2(self.pad(out)), gamma, beta)


def class_activation(features: Tensor, gap_fc: nn.Linear, gmp_fc: nn.Linear, fuse: nn.Conv2d) -> tuple[Tensor, Tensor]:
    """The CAM auxiliary classifier: logits from average- and max-pooled features (N x 2), and the 1x1 fusion conv
    over the features re-weighted channel by channel with the classifiers' own weights (N x C x H x W, before the
    activation).

    U-GAT-IT writes the second as ``fuse(cat([features * w_gap, features * w_gmp]))``. A 1x1 conv is linear in its
    input, so the re-weighting folds into its weight: ``conv(features, W[:, :C] w_gap + W[:, C:] w_gmp)``, the same
    sums without the 2C x H x W re-weighted map, its fp32 copy under autocast (a bf16 map times an fp32 weight), or
    half of the conv. Each weight is read once: under spectral norm every read of ``.weight`` runs a power
    iteration."""
    gap_weight, gmp_weight = gap_fc.weight, gmp_fc.weight  # 1 x C each
    logits = torch.cat([F.linear(features.mean((2, 3)), gap_weight), F.linear(features.amax((2, 3)), gmp_weight)], 1)
    gap_part, gmp_part = fuse.weight.chunk(2, dim=1)  # C x C x 1 x 1 each: what takes the two re-weighted halves
    folded = gap_part * gap_weight.view(1, -1, 1, 1) + gmp_part * gmp_weight.view(1, -1, 1, 1)
    return logits, F.conv2d(features, folded, fuse.bias)


class ClassActivationMap:
    """For a network with CAM classifiers ``gap_fc`` and ``gmp_fc`` and a fusion conv ``fuse``: one place to call
    ``class_activation`` from (the benchmarks' reference rebinds it on its instances to U-GAT-IT's literal form)."""

    gap_fc: nn.Linear
    gmp_fc: nn.Linear
    fuse: nn.Conv2d

    def attend(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """(CAM logits, fusion conv output): ``class_activation`` with this network's classifiers and fusion conv."""
        return class_activation(features, self.gap_fc, self.gmp_fc, self.fuse)


class UGATITGenerator(ClassActivationMap, Generator):
    """image (N x C_in x S x S) -> translated image (N x C_out x S x S in [-1, 1]); ``translate_with_attention``
    also gives the CAM logit (N x 2) and the attention heatmap (N x 1 x S/4 x S/4).

    Down-sampling (7x7 conv, two stride-2 3x3 convs), ``n_blocks`` residual blocks, the CAM classifier
    and its 1x1 fusion conv, the gamma/beta MLP, ``n_blocks`` AdaLIN residual blocks, and up-sampling
    (nearest x2, 3x3 conv, LIN) to a 7x7 conv and tanh. ``light`` pools the attention features before
    the MLP (U-GAT-IT's light model); the full form feeds the whole (S/4)^2 x 4 width map to it, which
    at 256 px is a 268M-weight first layer.

    ``residual`` (a gankit option, not the paper's) adds the tanh output to the input image, so the network
    draws the change rather than the whole image; ``identity_start`` then zeroes the last conv, so that the
    generator starts as the exact identity and training only has to learn what the translation changes.
    """

    def __init__(self, image_size: int = 256, width: int = 64, in_channels: int = 3, out_channels: int = 3,
                 n_blocks: int = 4, light: bool = True, residual: bool = False, identity_start: bool = False,
                 base: str = "input", residual_blur: float = 0.0, residual_shrink: float = 0.0) -> None:
        super().__init__()
        if image_size % 2**DOWNSAMPLINGS:
            raise ConfigError(f"the ugatit generator needs an image size divisible by 4, not {image_size}")
        if n_blocks < 1:
            raise ConfigError(f"n_blocks must be at least 1, not {n_blocks}")
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
        self.image_size, self.in_channels, self.light, self.residual = image_size, in_channels, light, residual
        channels = width * 2**DOWNSAMPLINGS
        down: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7, bias=False),
                                 nn.InstanceNorm2d(width), nn.ReLU(True)]
        for level in range(DOWNSAMPLINGS):
            c = width * 2**level
            down += [nn.ReflectionPad2d(1), nn.Conv2d(c, 2 * c, 3, stride=2, bias=False), nn.InstanceNorm2d(2 * c),
                     nn.ReLU(True)]
        down += [ResidualBlock(channels) for _ in range(n_blocks)]
        self.encoder = nn.Sequential(*down)

        self.gap_fc = nn.Linear(channels, 1, bias=False)
        self.gmp_fc = nn.Linear(channels, 1, bias=False)
        self.fuse = nn.Conv2d(2 * channels, channels, 1)
        mlp_input = channels if light else (image_size // 2**DOWNSAMPLINGS) ** 2 * channels
        self.mlp = nn.Sequential(nn.Linear(mlp_input, channels, bias=False), nn.ReLU(True),
                                 nn.Linear(channels, channels, bias=False), nn.ReLU(True))
        self.gamma = nn.Linear(channels, channels, bias=False)
        self.beta = nn.Linear(channels, channels, bias=False)

        self.decoder_blocks = nn.ModuleList(AdaLINResidualBlock(channels) for _ in range(n_blocks))
        up: list[nn.Module] = []
        for level in range(DOWNSAMPLINGS, 0, -1):
            c = width * 2**level
            up += [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1),
                   nn.Conv2d(c, c // 2, 3, bias=False), LIN(c // 2), nn.ReLU(True)]
        up += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7, bias=False), nn.Tanh()]
        self.decoder = nn.Sequential(*up)
        if identity_start:
            start_at_zero(self.decoder[-2])  # tanh(0) = 0: the image passes unchanged

    def forward(self, image: Tensor) -> Tensor:
        """The translated image alone: what inference, ``gankit export`` and a stand-in generator see."""
        return self.translate_with_attention(image)[0]

    def translate_with_attention(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(translated image, CAM logit, heatmap): what the recipe's losses and the sample grid use."""
        features = self.encoder(image)
        cam_logit, fused = self.attend(features)
        attended = torch.relu(fused)
        heatmap = attended.sum(1, keepdim=True)
        style = attended.mean((2, 3)) if self.light else attended.flatten(1)
        style = self.mlp(style)
        gamma, beta = self.gamma(style), self.beta(style)
        x = attended
        for block in self.decoder_blocks:
            x = block(x, gamma, beta)
        out = self.decoder(x)
        if self.residual:
            out = (self.base(image) + self.residual_filter(out)).clamp(-1, 1)
        return out, cam_logit, heatmap

    def example_inputs(self) -> tuple[Tensor, ...]:
        return (torch.zeros(2, self.in_channels, self.image_size, self.image_size),)


class UGATITDiscriminator(ClassActivationMap, Discriminator):
    """image (N x C_in x S x S) -> (patch logits N x 1 x h x w, CAM logit N x 2, heatmap N x 1 x h' x w').

    ``layers`` 7 is the global discriminator (receptive field 190 px at the CAM, paper 001 section 4.2),
    5 the local one (46 px): ``layers - 2`` stride-2 4x4 convs and one stride-1 4x4 conv before the CAM,
    a 1x1 fusion conv, and a stride-1 4x4 conv to the logit map. Every conv and the CAM classifiers are
    spectrally normalised, except the 1x1 fusion conv (as in U-GAT-IT); activations are LeakyReLU(0.2). The
    spectral-norm convs divide their output by sigma where it is smaller than their weight (``spectral_norm_conv``:
    torch's spectral norm, the same maths and checkpoint keys, less work in the deep layers).
    """

    def __init__(self, width: int = 64, in_channels: int = 3, layers: int = 7, image_size: int = 256) -> None:
        super().__init__()
        if layers < 3:
            raise ConfigError(f"the ugatit discriminator needs at least 3 layers, not {layers}")
        if image_size // 2 ** (layers - 2) < 3:  # the two stride-1 convs each need a map of 2 px or more
            smallest = 3 * 2 ** (layers - 2)
            raise ConfigError(f"a {layers}-layer ugatit discriminator needs images of {smallest} px or more, "
                              f"not {image_size} (use fewer layers for small images)")
        self.in_channels, self.image_size = in_channels, image_size

        def conv(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
            return [nn.ReflectionPad2d(1), spectral_norm_conv(c_in, c_out, 4, stride=stride), nn.LeakyReLU(0.2, True)]

        body = conv(in_channels, width, 2)
        for level in range(layers - 3):
            body += conv(width * 2**level, width * 2 ** (level + 1), 2)
        channels = width * 2 ** (layers - 3)
        body += conv(channels, 2 * channels, 1)
        self.body = nn.Sequential(*body)
        channels *= 2
        self.gap_fc = spectral_norm(nn.Linear(channels, 1, bias=False))
        self.gmp_fc = spectral_norm(nn.Linear(channels, 1, bias=False))
        self.fuse = nn.Conv2d(2 * channels, channels, 1)
        self.head = nn.Sequential(nn.ReflectionPad2d(1), spectral_norm_conv(channels, 1, 4, bias=False))

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        features = self.body(image)
        cam_logit, fused = self.attend(features)
        attended = F.leaky_relu(fused, 0.2)
        heatmap = attended.sum(1, keepdim=True)
        return self.head(attended), cam_logit, heatmap

    def example_inputs(self) -> tuple[Tensor, ...]:
        return (torch.zeros(2, self.in_channels, self.image_size, self.image_size),)
