"""Where a region exchange happens: the exchange mask of two faces' boxes (the paper's EM_ij), the
feathered mask G's output is used in, and Eq. 1's paste. Shared by the model, `gankit swap` and the
evaluation, so none of them imports another for these."""

from __future__ import annotations

import torch
from torch import Tensor


def exchange_masks(boxes_a: Tensor, boxes_b: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """M (N x 1 x S x S, 1 in either face's box: the paper's EM_ij) and the union's bounding boxes."""
    from gankit_core.data.landmarks import box_masks

    mask = torch.maximum(box_masks(boxes_a, size), box_masks(boxes_b, size))
    union = torch.cat([torch.minimum(boxes_a[:, :2], boxes_b[:, :2]), torch.maximum(boxes_a[:, 2:], boxes_b[:, 2:])], 1)
    return mask, union


def feather_mask(boxes_a: Tensor, boxes_b: Tensor, size: int, band: float) -> Tensor:
    """F (N x 1 x S x S): 1 in the exchange area (either box), falling linearly to 0 over ``band`` pixels
    outside it (L-infinity distance, as Eq. 4's); ``band`` 0 gives the exchange mask itself."""
    from gankit_globallocal.mask import box_distance

    distance = torch.minimum(box_distance(boxes_a, size), box_distance(boxes_b, size))
    return (1 - distance / (band + 1)).clamp_(0, 1)


def exchange(a: Tensor, b: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Eq. 1 (and Eq. 2 on generated images): a with b's region, and b with a's."""
    mask = mask.to(a.dtype)  # generated images are bf16/fp16 under autocast
    return torch.lerp(a, b, mask), torch.lerp(b, a, mask)


def border_band(mask: Tensor, width: int) -> Tensor:
    """1 within ``width`` pixels (L-infinity) of the edge of ``mask``'s area, on either side."""
    kernel = 2 * width + 1
    grown = torch.nn.functional.max_pool2d(mask, kernel, 1, width)
    shrunk = -torch.nn.functional.max_pool2d(-mask, kernel, 1, width)
    return grown - shrunk
