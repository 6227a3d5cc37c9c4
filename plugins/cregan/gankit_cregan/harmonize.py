"""A self-supervised harmonisation task for G (a gankit addition, config ``harmonize_weight``; the paper has none).

The critic cannot tell a Poisson-blended exchange from a real face (plugins/cregan/EXPERIMENTS.md, section 5),
so its gradient tells G nothing. This task needs no truth and works on photos as well: take a face X, recolour
its own exchange area as the exchange would (its Lab mean and spread moved onto the partner face's in the same
area, Reinhard et al.'s transfer, as the ``colour`` baseline does), blend that back into X as G's inputs are
blended (``CREGAN.blended``), and ask G to give X back. The only thing wrong with such an input is the tone and
contrast mismatch the blend leaves, so G learns to correct that and nothing else.

Images are in [-1, 1] (sRGB); the Lab conversion is CIE 1976 with a D65 white, as OpenCV's.
"""

from __future__ import annotations

import torch
from torch import Tensor

RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423), (0.212671, 0.715160, 0.072169), (0.019334, 0.119193, 0.950227))
WHITE = (0.950456, 1.0, 1.088754)  # D65, OpenCV's
DELTA = 6 / 29  # where CIE Lab's cube root turns linear
SPREAD_LIMITS = (0.5, 2.0)  # the spread ratio is kept within these, so a flat area does not blow up


def _matrix(reference: Tensor, inverse: bool = False) -> Tensor:
    matrix = torch.tensor(RGB_TO_XYZ, dtype=reference.dtype, device=reference.device)
    white = torch.tensor(WHITE, dtype=reference.dtype, device=reference.device)[:, None]
    matrix = matrix / white  # XYZ relative to the white point
    return torch.linalg.inv(matrix) if inverse else matrix


def rgb_to_lab(image: Tensor) -> Tensor:
    """N x 3 x H x W sRGB in [-1, 1] to Lab (L in [0, 100])."""
    rgb = ((image + 1) / 2).clamp(0, 1)
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = torch.einsum("ij,njhw->nihw", _matrix(image), linear)
    f = torch.where(xyz > DELTA**3, xyz.clamp_min(DELTA**3) ** (1 / 3), xyz / (3 * DELTA**2) + 4 / 29)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def lab_to_rgb(lab: Tensor) -> Tensor:
    """The inverse of ``rgb_to_lab``, clipped to [-1, 1]."""
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], 1)
    xyz = torch.where(f > DELTA, f**3, 3 * DELTA**2 * (f - 4 / 29))
    linear = torch.einsum("ij,njhw->nihw", _matrix(lab, inverse=True), xyz).clamp(0, 1)
    rgb = torch.where(
        linear <= 0.0031308, linear * 12.92, 1.055 * linear.clamp_min(1e-12) ** (1 / 2.4) - 0.055
    )
    return rgb.clamp(0, 1) * 2 - 1


def area_statistics(lab: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Per image and channel, the mean and standard deviation of ``lab`` where ``mask`` is 1 (N x 3 x 1 x 1 each)."""
    count = mask.sum((2, 3), keepdim=True).clamp_min(1)
    mean = (lab * mask).sum((2, 3), keepdim=True) / count
    spread = (((lab - mean) ** 2 * mask).sum((2, 3), keepdim=True) / count).sqrt()
    return mean, spread


def recolour_area(image: Tensor, partner: Tensor, mask: Tensor) -> Tensor:
    """``image`` with its area (``mask`` 1) moved onto ``partner``'s Lab mean and spread in the same area: what an
    exchange does to the area's tone, with ``image``'s own content. Outside the area, ``image`` unchanged."""
    with torch.autocast(image.device.type, enabled=False):  # colour conversions want fp32
        area = mask.float()
        lab, partner_lab = rgb_to_lab(image.float()), rgb_to_lab(partner.float())
        mean, spread = area_statistics(lab, area)
        partner_mean, partner_spread = area_statistics(partner_lab, area)
        ratio = (partner_spread / spread.clamp_min(1e-3)).clamp(*SPREAD_LIMITS)
        recoloured = lab_to_rgb((lab - mean) * ratio + partner_mean)
        return torch.lerp(image.float(), recoloured, area).to(image.dtype)
