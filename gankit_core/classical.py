"""The classical translation tools as differentiable torch modules, so a residual generator can start from one.

``Stylize`` is OpenCV's cartoon filter, ``cv2.stylization``: Gastal and Oliveira's domain transform (2011) with
normalized convolution, then each pixel darkened by the filtered image's Sobel gradient magnitude. It equals
OpenCV's output to within one grey level in 8 bits (tests/test_classical.py). ``CloseBlur`` is the classical
cartoon-to-photo tool of ``gankit eval``'s table: a morphological closing erases the dark outlines, a Gaussian
blur softens flat colours into shading, and grain is added (a fixed pattern here, random there).

A residual generator with ``base="stylize"`` draws ``stylize(x) + r(x)``: it starts as the classical tool (with
``identity_start``) and the adversarial training only has to learn what the filter gets wrong. Both modules take
and return images in [-1, 1], N x 3 x H x W, and use only ops the ONNX exporter knows (no search, no loops
over pixels): the domain transform's box filter is a dense W x W window mask per row, cheap at the sizes the
CPU trains at (64 px: 64 x 64 per row).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit_core.errors import ConfigError
from gankit_core.images import GREY_LEVEL

SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))


def _box_windows(domain: Tensor, radii: list[float]) -> list[Tensor]:
    """For each radius, the N x H x W x W matrix that averages a row's pixels whose domain coordinate
    (``domain``, N x H x W) lies within that radius of each pixel's: the domain transform's box filter."""
    distance = (domain.unsqueeze(-1) - domain.unsqueeze(-2)).abs()
    windows = []
    for radius in radii:
        window = (distance <= radius).float()
        windows.append(window / window.sum(-1, keepdim=True))
    return windows


def domain_transform(image: Tensor, sigma_s: float, sigma_r: float, iterations: int = 3) -> Tensor:
    """Edge-preserving smoothing of ``image`` (N x C x H x W, values in [0, 1]) by the domain transform with
    normalized convolution, as OpenCV's ``edgePreservingFilter(flags=NORMCONV_FILTER)`` computes it.

    The domain distance between neighbours is 1 + sigma_s / sigma_r times the L1 colour difference; the box
    filters shrink over the iterations so that together they make a Gaussian of sigma_s (the paper's eq. 14).
    The windows depend on the image but are held fixed in the gradient, like a guided filter's weights."""
    ratio = sigma_s / sigma_r
    radii = [math.sqrt(3) * sigma_s * math.sqrt(3) * 2 ** (iterations - i - 1) / math.sqrt(4**iterations - 1)
             for i in range(iterations)]
    with torch.no_grad():
        step_x = F.pad((image[..., 1:] - image[..., :-1]).abs().sum(1), (1, 0))
        step_y = F.pad((image[..., 1:, :] - image[..., :-1, :]).abs().sum(1), (0, 0, 1, 0))
        across = _box_windows((1 + ratio * step_x).cumsum(-1), radii)
        down = _box_windows((1 + ratio * step_y).cumsum(-2).transpose(-1, -2), radii)
    out = image.permute(0, 2, 3, 1)  # N x H x W x C: each row's pixels times its window matrix
    for row_window, column_window in zip(across, down, strict=True):
        out = (row_window @ out).transpose(1, 2)  # now N x W x H x C
        out = (column_window @ out).transpose(1, 2)
    return out.permute(0, 3, 1, 2)


class Stylize(nn.Module):
    """``cv2.stylization(sigma_s, sigma_r)`` on [-1, 1] images: the domain-transform smoothing to flat colour,
    each pixel then multiplied by 1 minus the sum over channels of the smoothed image's Sobel magnitude, which
    draws dark outlines at colour edges (and clips to black where the edges are strongest, as OpenCV's 8-bit
    conversion does)."""

    def __init__(self, sigma_s: float = 20.0, sigma_r: float = 0.3) -> None:
        super().__init__()
        self.sigma_s, self.sigma_r = sigma_s, sigma_r
        sobel = torch.tensor(SOBEL_X)
        self.register_buffer("sobel", torch.stack([sobel, sobel.T]).unsqueeze(1), persistent=False)

    def forward(self, image: Tensor) -> Tensor:
        with torch.autocast(image.device.type, enabled=False):  # a window's 1/k weights need fp32 to match OpenCV
            return self._stylize(image.float()).to(image.dtype)

    def _stylize(self, image: Tensor) -> Tensor:
        smooth = domain_transform((image + 1) / 2, self.sigma_s, self.sigma_r)
        n, c, h, w = smooth.shape
        padded = F.pad(smooth.reshape(n * c, 1, h, w), (1, 1, 1, 1), mode="reflect")  # OpenCV's BORDER_REFLECT_101
        gradient = F.conv2d(padded, self.sobel).reshape(n, c, 2, h, w)
        edges = gradient.pow(2).sum(2).add(1e-12).sqrt().sum(1, keepdim=True)
        return (smooth * (1 - edges)).clamp(0, 1) * 2 - 1


class GaussianBlur(nn.Module):
    """A separable Gaussian blur of ``sigma`` pixels with OpenCV's kernel for 8-bit images (round(6 sigma + 1)
    taps, made odd) and its default border (reflect 101), per channel, on N x C x H x W images."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        half = int(sigma * 6 + 1.5) // 2
        taps = torch.exp(-torch.arange(-half, half + 1, dtype=torch.float32) ** 2 / (2 * sigma**2))
        self.register_buffer("taps", taps / taps.sum(), persistent=False)

    def forward(self, image: Tensor) -> Tensor:
        n, c, h, w = image.shape
        flat = image.reshape(n * c, 1, h, w)
        half = self.taps.numel() // 2
        flat = F.conv2d(F.pad(flat, (half, half, 0, 0), mode="reflect"), self.taps.view(1, 1, 1, -1).to(flat))
        flat = F.conv2d(F.pad(flat, (0, 0, half, half), mode="reflect"), self.taps.view(1, 1, -1, 1).to(flat))
        return flat.reshape(n, c, h, w)


MAX_RESIDUAL_BLUR = 8.0  # px at 64 px: a kernel of 49 taps, narrower than the image at any size


class ResidualFilter(nn.Module):
    """What a residual generator does to its network's output before adding it to its base.

    ``blur``: a Gaussian of that many pixels at 64 px (scaled with the image). A generator's raw output carries a
    faint pixel-scale speckle that the discriminators let through and that the Inception features of KID weigh
    heavily (two grey levels of noise on the cartoon filter's output cost it 0.008 KID); a blurred residual can
    still move colours and edges by a pixel or two, but cannot speckle.

    ``shrink``: at inference only (``eval()``), a soft threshold of that many grey levels: corrections smaller
    than it are dropped and larger ones shortened by it, the proximal step of the L1 that ``base_weight`` puts on
    the correction, which Adam's steps never take, so the trained correction jitters around zero wherever it
    should be zero. In training the correction passes whole: a generator that starts as its base (a zero
    correction) would get no gradient through the threshold."""

    def __init__(self, image_size: int, blur: float = 0.0, shrink: float = 0.0) -> None:
        super().__init__()
        for name, value in (("residual_blur", blur), ("residual_shrink", shrink)):
            if value < 0:
                raise ConfigError(f"{name} must be 0 (none) or more, not {value}")
        if blur > MAX_RESIDUAL_BLUR:  # the blur's reflect padding needs a kernel narrower than the image
            raise ConfigError(f"residual_blur must be at most {MAX_RESIDUAL_BLUR} px (at 64 px), not {blur}")
        self.blur = GaussianBlur(blur * image_size / 64) if blur else nn.Identity()
        self.shrink = shrink * GREY_LEVEL

    def forward(self, residual: Tensor) -> Tensor:
        residual = self.blur(residual)
        if self.shrink and not self.training:
            residual = residual.sign() * (residual.abs() - self.shrink).clamp(min=0)
        return residual


class CloseBlur(nn.Module):
    """Cartoon to photo: a morphological closing (a max then a min over ``close`` x ``close`` pixels, per
    channel) erases thin dark outlines; a Gaussian blur of ``sigma`` pixels softens flat colour into shading;
    ``grain`` adds film grain of that standard deviation in 8-bit levels. Sizes are for 64 px and scale with the
    image, as ``gankit_core.translation.smooth_and_noise``'s do.

    The grain is one fixed pattern (seeded), as a photo editor's grain overlay is, so the module stays a
    deterministic function that exports to ONNX. Measured on 128 held-out cartoons, it scores as the random grain
    of the eval's classical tool does: KID 0.130 against 0.128, without grain 0.172 (docs/models/translation-runs.md,
    round 2)."""

    def __init__(self, image_size: int = 64, close: int = 5, sigma: float = 1.5, grain: float = 0.0) -> None:
        super().__init__()
        self.grain = grain * GREY_LEVEL
        pattern = torch.randn(1, 3, image_size, image_size, generator=torch.Generator().manual_seed(0))
        self.register_buffer("pattern", pattern, persistent=False)
        scale = image_size / 64
        self.close = max(1, round(close * scale) // 2 * 2 + 1)  # odd
        self.blur = GaussianBlur(sigma * scale)

    def forward(self, image: Tensor) -> Tensor:
        pad = self.close // 2
        closed = F.max_pool2d(image, self.close, 1, pad)
        closed = -F.max_pool2d(-closed, self.close, 1, pad)
        smooth = self.blur(closed)
        h, w = smooth.shape[-2:]
        if not self.grain:
            return smooth
        size = self.pattern.shape[-1]
        pattern = self.pattern.repeat(1, 1, -(-h // size), -(-w // size))[..., :h, :w]  # tiled at other sizes
        return smooth + self.grain * pattern.to(smooth)


BASES = {"input": "the input image itself (a plain residual generator)",
         "stylize": "OpenCV's cartoon filter (cv2.stylization, sigma_s 20, sigma_r 0.3): photo to cartoon",
         "close-blur": "a closing, a Gaussian blur and a fixed grain (the classical cartoon-to-photo tool): cartoon "
                       "to photo"}


def residual_base(name: str, image_size: int) -> nn.Module:
    """The module a residual generator adds its output to, by config name (``BASES``)."""
    if name == "input":
        return nn.Identity()
    if name == "stylize":
        return Stylize()
    if name == "close-blur":
        return CloseBlur(image_size, grain=4.0)  # SMOOTHING["noise"], the eval's classical tool
    raise ConfigError(f"unknown residual base {name!r}; bases are {', '.join(BASES)}")
