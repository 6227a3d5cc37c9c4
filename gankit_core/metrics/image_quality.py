"""SSIM and PSNR on image tensors whose value range is stated explicitly ((0, 1) or (-1, 1)).

SSIM follows Wang et al. 2004 with an 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03 and
population covariances, per channel, averaged over the valid (unpadded) area: the same as
scikit-image's ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=...)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit_core.errors import GankitError

VALUE_RANGES = {(0.0, 1.0), (-1.0, 1.0), (0.0, 255.0)}


def _check(a: Tensor, b: Tensor, value_range: tuple[float, float]) -> tuple[Tensor, Tensor, float]:
    if tuple(map(float, value_range)) not in VALUE_RANGES:
        raise GankitError(f"value_range must be (0, 1), (-1, 1) or (0, 255), not {value_range}")
    if a.shape != b.shape:
        raise GankitError(f"images to compare must have the same shape, not {tuple(a.shape)} and {tuple(b.shape)}")
    if a.dim() == 3:
        a, b = a.unsqueeze(0), b.unsqueeze(0)
    if a.dim() != 4:
        raise GankitError(f"expected images as N x C x H x W or C x H x W, not {tuple(a.shape)}")
    low, high = value_range
    return a.double(), b.double(), float(high - low)


def psnr(a: Tensor, b: Tensor, value_range: tuple[float, float]) -> Tensor:
    """Peak signal-to-noise ratio in dB, one value per image (inf for identical images)."""
    a, b, data_range = _check(a, b, value_range)
    mse = ((a - b) ** 2).flatten(1).mean(1)
    return (10 * torch.log10(data_range**2 / mse)).float()


def masked_psnr(a: Tensor, b: Tensor, mask: Tensor, value_range: tuple[float, float]) -> Tensor:
    """PSNR in dB over the pixels where ``mask`` (N x 1 x H x W, 0 or 1) is 1, one value per image (float64;
    inf where the area is identical or empty): a figure for a region, such as an exchanged mouth or the eyes, that
    a whole-image PSNR dilutes."""
    a, b, data_range = _check(a, b, value_range)
    mask = mask.double()
    if mask.dim() == 3:
        mask = mask.unsqueeze(0)
    squared = ((a - b) ** 2 * mask).flatten(1).sum(1)
    count = mask.expand_as(a).flatten(1).sum(1).clamp_min(1)
    return 10 * torch.log10(data_range**2 / (squared / count))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    return kernel[:, None] * kernel[None, :]


def ssim(a: Tensor, b: Tensor, value_range: tuple[float, float], window: int = 11, sigma: float = 1.5) -> Tensor:
    """Structural similarity, one value per image (mean over channels and valid positions)."""
    a, b, data_range = _check(a, b, value_range)
    if min(a.shape[-2:]) < window:
        raise GankitError(f"SSIM needs images of at least {window}x{window} pixels, not {tuple(a.shape[-2:])}")
    channels = a.shape[1]
    kernel = _gaussian_window(window, sigma).to(a.device).expand(channels, 1, window, window)

    def blur(x: Tensor) -> Tensor:
        return F.conv2d(x, kernel, groups=channels)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return index.flatten(1).mean(1).float()
