"""Reading 68 points back off a landmark image: the fusion module's J_gen as points a warp can use.

Phi (Eq. 1) predicts a landmark *image*; a warp needs *points*. ``read_points`` finds the points whose landmark
image, drawn as the model draws its own (anti-aliased lines, then the soft-line blur), is closest to the given one
in the least-squares sense, by gradient descent from a starting guess (the target's own points): first against a
blurred copy of both images, so that a line a few pixels off still feels the pull, then against the images
themselves. Only the points an expression moves (brows, eyes, lips) are read; the jaw and the nose keep the
starting guess's. Two small pulls settle what the image cannot say (a point can slide along its own line without
changing the drawing): toward the start, and toward the mean of the point's two neighbours' moves.
plugins/unet_landmark/NOTES.md section 2 has the measurements behind each constant.

The drawing here measures each pixel's distance to the contours' segments exactly, so it can be differentiated;
``draw_landmarks`` measures it to points a quarter pixel apart (the two differ by 0.0005 of a line's value on
average at 64 px, 0.1 at most where a pixel's centre falls between two samples).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from gankit_core.data.landmarks import _contour_segments
from gankit_unet_landmark.warp import MOVING

COARSE_BLUR = 2.0  # pixels at 64 px of the first pass's extra blur (scaled with the size)
STEPS = (40, 40)  # gradient steps of the coarse and of the fine pass
RATE = 0.1  # Adam's step, in pixels at 64 px (scaled)
ANCHOR = 1e-2  # weight of the pull toward the starting points, per squared pixel
SMOOTH = 0.1  # weight of the pull toward the mean of a point's two neighbours' moves, per squared pixel
MARGIN = 6.0  # pixels at 64 px around the moving points where the images are compared (scaled)


def _neighbours() -> Tensor:
    """For each moving point (in MOVING's order), the positions in MOVING of its two neighbours along its contour
    (an open contour's end point counts its one neighbour twice)."""
    from gankit_core.data.landmarks import CONTOURS

    where = {int(point): index for index, point in enumerate(MOVING)}
    pairs = {}
    for indices, closed in CONTOURS:
        points = list(indices)
        for k, point in enumerate(points):
            if point not in where:
                continue
            before = points[k - 1] if (k > 0 or closed) else points[k + 1]
            after = points[(k + 1) % len(points)] if (k + 1 < len(points) or closed) else points[k - 1]
            pairs[where[point]] = (where[before], where[after])
    return torch.tensor([pairs[index] for index in range(len(MOVING))])


NEIGHBOURS = _neighbours()
POSITION_IN_MOVING = torch.full((68,), -1, dtype=torch.long).index_put_(
    (torch.from_numpy(MOVING),), torch.arange(len(MOVING)))  # point index -> its place in MOVING (-1: fixed)


def segments(moving: bool) -> tuple[Tensor, Tensor]:
    """Start and end indices of the contour segments between two moving points (``moving``) or the others."""
    moves = np.isin(np.arange(68), MOVING)
    pairs = [(a, b) for a, b in zip(*_contour_segments(), strict=True) if moves[a] == moves[b] == moving]
    starts, ends = zip(*pairs, strict=True)
    return torch.tensor(starts), torch.tensor(ends)


def draw_lines(points: Tensor, starts: Tensor, ends: Tensor, box: tuple[int, int, int, int], thickness: float,
               base: Tensor | None = None) -> Tensor:
    """Line values in [0, 1] (N x 1 x H x W) over the pixels of ``box`` (x0, y0, x1, y1) for the segments
    ``starts``-``ends`` of ``points`` (N x K x 2, K points: 68 or fewer): ``thickness / 2 + 0.5 - d`` clamped, d the distance to the
    nearest segment, as ``draw_landmarks``; lines over ``base`` (N x 1 x H x W) where it is brighter. Each segment
    only reaches the pixels within a line's half width of it, so each is measured over its own small window.

    A window's pixel centres are a grid, so their offsets from a segment's start are one row of x offsets and one
    column of y offsets; the arithmetic runs on the two coordinates apart and broadcasts them over the window, the
    same sums as over N x S x P x 2 offsets without reducing over a dimension of two (read_points draws 80 times
    a reading, with gradients)."""
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    a, b = points[:, starts], points[:, ends]  # N x S x 2
    reach = thickness / 2 + 0.5
    with torch.no_grad():
        corner = (torch.minimum(a, b) - reach).floor()  # the window's top-left pixel, per segment
        span = int((torch.maximum(a, b) + reach - corner).amax().ceil()) + 1
    steps = torch.arange(span, device=points.device, dtype=points.dtype)
    column, row = (corner[..., axis, None] + steps for axis in (0, 1))  # N x S x span: the window's pixel indices
    (ax, ay), (ex, ey) = a.unbind(-1), (b - a).unbind(-1)  # N x S each: the start and the direction
    offset_x = (column + 0.5 - ax[..., None])[..., None, :]  # N x S x 1 x span: x offsets along a window's row
    offset_y = (row + 0.5 - ay[..., None])[..., :, None]  # N x S x span x 1: y offsets down its column
    ex, ey = ex[..., None, None], ey[..., None, None]
    length = (ex * ex + ey * ey).clamp_min(1e-9)
    along = ((offset_x * ex + offset_y * ey) / length).clamp(0, 1)  # N x S x span x span
    gap_x, gap_y = offset_x - along * ex, offset_y - along * ey
    distance = (gap_x * gap_x + gap_y * gap_y).add(1e-12).sqrt()
    value = (thickness / 2 + 0.5 - distance).clamp(0, 1)
    with torch.no_grad():
        column, row = column[..., None, :] - x0, row[..., :, None] - y0
        inside = (column >= 0) & (column < width) & (row >= 0) & (row < height)
        index = (row * width + column).clamp(0, width * height - 1).long()
    canvas = torch.zeros(points.shape[0], height * width, dtype=points.dtype, device=points.device)
    if base is not None:
        canvas = canvas + base.reshape(points.shape[0], -1)
    lines = canvas.scatter_reduce(1, index.flatten(1), (value * inside).flatten(1), "amax", include_self=True)
    return lines.reshape(-1, 1, height, width)


@torch.enable_grad()
def read_points(image: Tensor, start: Tensor, thickness: float, blur: float, steps: tuple[int, int] = STEPS) -> Tensor:
    """The points (N x 68 x 2) whose landmark image best matches ``image`` (N x 1 x S x S in [-1, 1], drawn with
    lines ``thickness`` wide and softened by a Gaussian of ``blur`` pixels, as ``landmark_images``), found from
    ``start``; only the brows, eyes and lips move."""
    from gankit_unet_landmark.model import GaussianBlur, soften

    size = image.shape[-1]
    scale = size / 64
    start = start.detach().float()
    target = (image.detach().float() + 1) / 2  # back to line values in [0, 1]
    # Compare only a box around the moving points: the rest of the image cannot move them.
    moving = start[:, MOVING]
    low = (moving.amin((0, 1)) - MARGIN * scale).floor().clamp(0, size - 1).long().tolist()
    high = (moving.amax((0, 1)) + MARGIN * scale).ceil().clamp(1, size).long().tolist()
    area = (low[0], low[1], high[0], high[1])
    crop = (slice(None), slice(None), slice(low[1], high[1]), slice(low[0], high[0]))
    fixed = draw_lines(start, *segments(False), area, thickness)  # the jaw and nose: drawn once
    # The moving segments join moving points only: drawn from the moving points alone (their places in MOVING).
    moving_segments = tuple(POSITION_IN_MOVING[ends] for ends in segments(True))
    # The blurs' banded matrices depend only on the box's size: built once for every step.
    shape = (high[1] - low[1], high[0] - low[0])
    soft = GaussianBlur(blur, shape, target) if blur else None

    def draw(points: Tensor) -> Tensor:
        lines = draw_lines(points, *moving_segments, area, thickness, base=fixed)
        return soften(lines, blur, soft) if blur else lines

    offset = torch.zeros_like(moving, requires_grad=True)
    optimizer = torch.optim.Adam([offset], lr=RATE * scale)
    for extra, count in zip((COARSE_BLUR * scale, 0.0), steps, strict=True):
        # The coarse pass compares both images blurred further: a line a few pixels off still overlaps its goal.
        coarse = GaussianBlur(extra, shape, target) if extra else None
        goal = coarse(target[crop]) if extra else target[crop]
        for _ in range(count):
            drawn = coarse(draw(moving + offset)) if extra else draw(moving + offset)
            bend = offset[:, NEIGHBOURS].mean(2) - offset
            # The image term of a line moved by d pixels grows as d squared at any size (a longer line, a wider
            # ridge): the pulls are per squared pixel of the image itself.
            loss = (drawn - goal).pow(2).sum() + ANCHOR * offset.pow(2).sum() + SMOOTH * bend.pow(2).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    points = start.clone()
    points[:, MOVING] = moving + offset.detach()
    return points
