"""Poisson blending (Perez et al. 2003) in torch, differentiable, computing what OpenCV's seamlessClone computes.

``poisson_blend(target, source, mask, mixed)`` is ``cv2.seamlessClone(source, target, mask dilated by 1 px,
the mask's centre, NORMAL_CLONE or MIXED_CLONE)`` for a source that lies where it is pasted (the exchange
case: no translation), on float images of any range, batched, on any device, with gradients to both images.
Kept to OpenCV's discretisation so that a model built on it starts exactly where the classical tool is:

- the area solved is the bounding rectangle of the grown mask, its outer ring fixed to the target;
- the guidance field is the source's forward differences inside the grown mask eroded three times (3 x 3),
  the target's everywhere else in the rectangle (``mixed``: inside, per channel, whichever image's
  |dx - dy| is larger, OpenCV's test);
- the Poisson equation (5-point Laplacian, divergence by backward differences) is solved exactly by a
  sine transform (DST-I) per rectangle.

The rectangles differ per image, so the solve loops over the batch; each is a few small FFTs. On uint8 inputs,
the output truncated to uint8 (OpenCV truncates, it does not round) equals OpenCV's bit for bit (tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GROW = 1  # pixels the mask is grown by before blending (as the classical baseline calls OpenCV)
ERODE = 3  # OpenCV's three 3 x 3 erosions of the grown mask: where the source's gradients are used


def dst1(x: Tensor, dim: int) -> Tensor:
    """Unnormalised DST-I along ``dim``: X_k = sum_n x_n sin(pi (n + 1)(k + 1) / (N + 1)), via a real FFT."""
    x = x.movedim(dim, -1)
    n = x.shape[-1]
    zero = torch.zeros_like(x[..., :1])
    odd = torch.cat([zero, x, zero, -x.flip(-1)], -1)  # the odd extension, period 2 (N + 1)
    return (-torch.fft.rfft(odd, dim=-1).imag[..., 1:n + 1] / 2).movedim(-1, dim)


def solve_dirichlet(rhs: Tensor) -> Tensor:
    """u with (5-point Laplacian of u) = rhs on a C x h x w grid and u = 0 just outside it."""
    h, w = rhs.shape[-2:]
    wave_x = torch.arange(1, w + 1, dtype=rhs.dtype, device=rhs.device) * torch.pi / (w + 1)
    wave_y = torch.arange(1, h + 1, dtype=rhs.dtype, device=rhs.device) * torch.pi / (h + 1)
    eigen = 2 * torch.cos(wave_x)[None, :] + 2 * torch.cos(wave_y)[:, None] - 4  # h x w, all negative
    coefficients = dst1(dst1(rhs, -1), -2) / eigen
    return dst1(dst1(coefficients, -1), -2) * (4 / ((w + 1) * (h + 1)))


def forward_differences(image: Tensor) -> tuple[Tensor, Tensor]:
    """(d/dx, d/dy): I(x + 1) - I(x), zero on the last column / row."""
    dx = F.pad(image[..., :, 1:] - image[..., :, :-1], (0, 1))
    dy = F.pad(image[..., 1:, :] - image[..., :-1, :], (0, 0, 0, 1))
    return dx, dy


def divergence(dx: Tensor, dy: Tensor) -> Tensor:
    """Backward differences of a field: the adjoint of ``forward_differences`` (with a minus sign)."""
    return dx - F.pad(dx[..., :, :-1], (1, 0)) + dy - F.pad(dy[..., :-1, :], (0, 0, 1, 0))


def erode(mask: Tensor, times: int) -> Tensor:
    for _ in range(times):
        mask = -F.max_pool2d(-mask, 3, 1, 1)  # padding counts as inside, as OpenCV's default border
    return mask


def poisson_blend(target: Tensor, source: Tensor, mask: Tensor, mixed: bool = False) -> Tensor:
    """``target`` (N x C x H x W) with ``source``'s content where ``mask`` (N x 1 x H x W, 0/1) is 1, blended in the
    gradient domain; ``mixed`` keeps the target's gradient where it is the stronger (MIXED_CLONE). Pixels outside
    the mask's bounding rectangle (grown by ``GROW``) are the target's exactly."""
    with torch.autocast(target.device.type, enabled=False):  # FFTs want fp32
        target, source, mask = target.float(), source.float(), mask.float()
        grown = F.max_pool2d(mask, 2 * GROW + 1, 1, GROW)
        grown[..., 0, :] = grown[..., -1, :] = grown[..., :, 0] = grown[..., :, -1] = 0  # OpenCV clears the frame
        inner = erode(grown, ERODE).bool()
        target_dx, target_dy = forward_differences(target)
        source_dx, source_dy = forward_differences(source)
        use_source = inner.expand_as(target)
        if mixed:
            use_source = use_source & ((source_dx - source_dy).abs() > (target_dx - target_dy).abs())
        field = divergence(torch.where(use_source, source_dx, target_dx), torch.where(use_source, source_dy, target_dy))
        rhs = field - divergence(target_dx, target_dy)  # solve for the change to the target, zero on the ring
        height, width = target.shape[-2:]
        changes = []
        for image, area in zip(rhs, grown[:, 0], strict=True):
            rows, columns = area.any(1).nonzero()[:, 0], area.any(0).nonzero()[:, 0]
            if len(rows) < 3 or len(columns) < 3:  # nothing inside the ring: no change
                changes.append(torch.zeros_like(image))
                continue
            top, bottom, left, right = int(rows[0]) + 1, int(rows[-1]), int(columns[0]) + 1, int(columns[-1])
            change = solve_dirichlet(image[:, top:bottom, left:right])
            changes.append(F.pad(change, (left, width - right, top, height - bottom)))
        return target + torch.stack(changes)


class PoissonBlend(nn.Module):
    """Poisson blending as a layer: ``PoissonBlend(mixed)(target, source, mask)`` (see ``poisson_blend``)."""

    def __init__(self, mixed: bool = False) -> None:
        super().__init__()
        self.mixed = mixed

    def forward(self, target: Tensor, source: Tensor, mask: Tensor) -> Tensor:
        return poisson_blend(target, source, mask, self.mixed)
