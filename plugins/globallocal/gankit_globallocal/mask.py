"""The local mask of paper 000, Eq. 4: 1 inside the exchange box, gamma^(k*d) outside.

As printed, d = min(m - a1, a2 - m, n - b1, b2 - n) is negative outside the box, which would make
the mask grow without bound; the text's intent is a weight that decays with the distance from the
box, so d here is the distance in pixels from the box: max(a1 - m, m - a2, b1 - n, n - b2, 0), the
magnitude of the printed expression outside the box (its L-infinity distance).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def box_distance(boxes: Tensor, size: int) -> Tensor:
    """N x 1 x size x size: each pixel's L-infinity distance (pixels) from its image's box (0 inside).

    Boxes are (x0, y0, x1, y1) with x1, y1 exclusive, as gankit's region boxes."""
    boxes = torch.as_tensor(boxes, dtype=torch.float32)
    coords = torch.arange(size, dtype=torch.float32, device=boxes.device)
    x0, y0, x1, y1 = (boxes[:, i, None] for i in range(4))
    dx = torch.clamp(torch.maximum(x0 - coords, coords - (x1 - 1)), min=0)  # N x W
    dy = torch.clamp(torch.maximum(y0 - coords, coords - (y1 - 1)), min=0)  # N x H
    return torch.maximum(dy[:, :, None], dx[:, None, :]).unsqueeze(1)


def local_mask(boxes: Tensor, size: int, gamma: float = 0.9, k: float = 1.0) -> Tensor:
    """Eq. 4's mask for each box: N x 1 x size x size in (0, 1]."""
    return torch.pow(torch.tensor(gamma, dtype=torch.float32), k * box_distance(boxes, size))


class LocalMask(nn.Module):
    """Eq. 4 as a layer: ``LocalMask(gamma, k)(boxes, size)``; gamma 0.9 and k 1 are paper 000's values."""

    def __init__(self, gamma: float = 0.9, k: float = 1.0) -> None:
        super().__init__()
        if not 0 < gamma < 1 or k <= 0:
            raise ValueError(f"local mask needs 0 < gamma < 1 and k > 0, not gamma={gamma}, k={k}")
        self.gamma, self.k = gamma, k

    def forward(self, boxes: Tensor, size: int) -> Tensor:
        return local_mask(boxes, size, self.gamma, self.k)
