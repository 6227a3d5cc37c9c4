"""A seam measure that needs no ground truth, so an exchange on a photo can be judged.

A pasted region leaves a step across the edge of the area it was pasted into. The measure is the energy of
the image's gradient across that edge (the component along the edge's normal, squared), averaged over a
band of ``SEAM_BAND_AT_64`` pixels on either side of the edge, divided by the same energy of the unedited face
in the same band. The ratio r is 1 where the edit changes as much across the edge as the face did (no seam),
above 1 for a visible step, below 1 for a band smoothed flatter than the face; the seam figure is max(r, 1/r),
the factor by which it departs from the face (1: no seam; lower is better), and over many faces the geometric
mean of that factor. On the synthetic pairs, whose truth it never sees, it ranks the paste, the feather, the
colour transfer and both Poisson blends exactly as the truth's border PSNR does, for the eyes and the mouth,
and the true exchange itself scores 1.02-1.04 (docs/models/cregan.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit_cregan.exchange import border_band

SEAM_BAND_AT_64 = 1  # pixels on either side of the area's edge, at 64 px (scaled with the image size)


def edge_normals(mask: Tensor, width: int) -> tuple[Tensor, Tensor]:
    """Unit vectors across the area's edge near it (N x 1 x H x W each): the gradient of the box-blurred mask."""
    blurred = F.avg_pool2d(mask, 2 * width + 1, 1, width, count_include_pad=False)
    nx, ny = central_differences(blurred)
    length = torch.sqrt(nx**2 + ny**2).clamp_min(1e-8)
    return nx / length, ny / length


def central_differences(image: Tensor) -> tuple[Tensor, Tensor]:
    padded = F.pad(image, (1, 1, 1, 1), mode="replicate")
    return ((padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) / 2, (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) / 2)


def seam_energy(images: Tensor, mask: Tensor, width: int | None = None) -> Tensor:
    """Mean squared gradient across the edge of ``mask``'s area (N x 1 x H x W), within ``width`` pixels of it:
    one value per image (N x C x H x W, any value range)."""
    images, mask = images.double(), mask.double()
    width = width or max(1, round(SEAM_BAND_AT_64 * images.shape[-1] / 64))
    band = border_band(mask, width)
    nx, ny = edge_normals(mask, width)
    dx, dy = central_differences(images)
    across = (dx * nx + dy * ny) ** 2 * band  # N x C x H x W
    return across.flatten(1).sum(1) / (band.flatten(1).sum(1) * images.shape[1]).clamp_min(1)


def seam_ratio(edited: Tensor, original: Tensor, mask: Tensor) -> Tensor:
    """r, per image: the energy across the area's edge in ``edited`` over that in ``original``."""
    return seam_energy(edited, mask) / seam_energy(original, mask).clamp_min(1e-12)


def seam_factor(edited: Tensor, original: Tensor, mask: Tensor) -> Tensor:
    """The seam figure, per image: max(r, 1/r), 1 for no seam."""
    return seam_ratio(edited, original, mask).log().abs().exp()


def mean_seam_factor(factors: list[float]) -> float:
    """Many faces' seam figures as one: their geometric mean."""
    import math

    return math.exp(sum(math.log(f) for f in factors) / len(factors))
