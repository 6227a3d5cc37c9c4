"""Landmark conventions and what is derived from them: eye/mouth boxes, landmark images, region masks.

The 68 points follow iBUG 300-W / dlib order: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47
(36-41 the eye on the image's left), mouth 48-67 (outer 48-59, inner 60-67). CelebA's 5 points are
left eye, right eye, nose, left mouth corner, right mouth corner.
"""

from __future__ import annotations

import numpy as np

JAW = slice(0, 17)
BROWS = slice(17, 27)
NOSE = slice(27, 36)
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
EYES = slice(36, 48)
MOUTH = slice(48, 68)
OUTER_MOUTH = slice(48, 60)
INNER_MOUTH = slice(60, 68)

# Closed and open polylines that draw a 68-point face (the landmark images of paper 003).
CONTOURS: tuple[tuple[range, bool], ...] = (
    (range(0, 17), False),
    (range(17, 22), False),
    (range(22, 27), False),
    (range(27, 31), False),
    (range(31, 36), False),
    (range(36, 42), True),
    (range(42, 48), True),
    (range(48, 60), True),
    (range(60, 68), True),
)


def square_box(x0, y0, x1, y1, margin: float, size: int) -> np.ndarray:
    """A square box around the extent (x0, y0, x1, y1), grown by ``margin`` of its side, clipped to the image."""
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = np.minimum(np.round(np.maximum(x1 - x0, y1 - y0) * (1 + margin)), size)  # whole pixels: stays square
    left = np.round(np.clip(cx - side / 2, 0, size - side))
    top = np.round(np.clip(cy - side / 2, 0, size - side))
    return np.stack([left, top, left + side, top + side], axis=-1).astype(np.int32)


def region_boxes(points: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Square eye and mouth boxes (x0, y0, x1, y1), as paper 000 exchanges, from 68 or 5 points.

    ``points`` is N x 68 x 2 or N x 5 x 2 in pixels. The eye box covers both eyes and brows; the
    mouth box the lips with a margin.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.shape[-2] == 68:
        eyes = np.concatenate([points[:, BROWS], points[:, EYES]], axis=1)
        mouth = points[:, MOUTH]
        eye_margin, mouth_margin = 0.1, 0.35
    elif points.shape[-2] == 5:
        # Only centres are known: widen by the eye distance so the box holds both eyes and brows.
        left, right = points[:, 0], points[:, 1]
        spread = np.linalg.norm(right - left, axis=-1, keepdims=True)
        eyes = np.stack([left - spread * [0.35, 0.45], right + spread * [0.35, 0.2]], axis=1)
        mouth = np.stack([points[:, 3] - spread * [0.0, 0.2], points[:, 4] + spread * [0.0, 0.25]], axis=1)
        eye_margin, mouth_margin = 0.0, 0.35
    else:
        raise ValueError(f"expected 68 or 5 landmarks, got {points.shape[-2]}")

    def box(group: np.ndarray, margin: float) -> np.ndarray:
        return square_box(group[..., 0].min(1), group[..., 1].min(1), group[..., 0].max(1), group[..., 1].max(1),
                           margin, size)

    return {"eye_box": box(eyes, eye_margin), "mouth_box": box(mouth, mouth_margin)}


def box_masks(boxes, size: int):
    """N x 1 x size x size float masks, 1 inside each box (x0 <= x < x1, y0 <= y < y1), 0 outside (torch)."""
    import torch

    boxes = torch.as_tensor(boxes)
    coords = torch.arange(size, device=boxes.device)
    x0, y0, x1, y1 = (boxes[:, i, None] for i in range(4))
    inside_x = (coords >= x0) & (coords < x1)  # N x W
    inside_y = (coords >= y0) & (coords < y1)  # N x H
    return (inside_y[:, :, None] & inside_x[:, None, :]).unsqueeze(1).float()


def _contour_segments() -> tuple[list[int], list[int]]:
    """Start and end point indices of every segment the contours draw."""
    starts, ends = [], []
    for indices, closed in CONTOURS:
        idx = list(indices)
        pairs = list(zip(idx[:-1], idx[1:], strict=True)) + ([(idx[-1], idx[0])] if closed else [])
        starts += [a for a, _ in pairs]
        ends += [b for _, b in pairs]
    return starts, ends


def draw_landmarks(points, size: int, thickness: float = 1.0):
    """Landmark images (paper 003's input format): N x 1 x size x size float in [0, 1], the 68 points
    joined by anti-aliased polylines along the face's contours, white on black.

    Each pixel holds ``thickness / 2 + 0.5 - d`` clamped to [0, 1], d its distance to the nearest contour,
    measured to points a quarter pixel apart along the contours (so the cost follows the contours' length, not
    segments x pixels). Drawn on the points' device; not meant to be differentiated."""
    import math

    import torch

    points = torch.as_tensor(points, dtype=torch.float32)
    n = points.shape[0]
    first, second = _contour_segments()
    starts, direction = points[:, first], points[:, second] - points[:, first]  # N x S x 2
    counts = (direction.norm(dim=-1).amax(0) / 0.25).ceil().long().clamp_min(1) + 1  # samples per segment
    segment = torch.repeat_interleave(torch.arange(len(first), device=points.device), counts)
    position = torch.arange(int(counts.sum()), device=points.device) - torch.repeat_interleave(
        counts.cumsum(0) - counts, counts)
    along = (position / (counts[segment] - 1).clamp_min(1)).float()
    samples = starts[:, segment] + along[None, :, None] * direction[:, segment]  # N x T x 2
    reach = math.ceil(thickness / 2 + 0.5)
    image = torch.zeros(n, size * size, device=points.device)
    base = (samples - 0.5).floor()
    for dy in range(-reach, reach + 2):
        for dx in range(-reach, reach + 2):
            pixel = base + torch.tensor([dx, dy], device=points.device)  # N x T x 2, integer pixel indices
            distance = (pixel + 0.5 - samples).norm(dim=-1)
            value = (thickness / 2 + 0.5 - distance).clamp(0, 1)
            inside = ((pixel >= 0) & (pixel < size)).all(-1)
            index = (pixel[..., 1] * size + pixel[..., 0]).clamp(0, size * size - 1).long()
            image.scatter_reduce_(1, index, value * inside, "amax")
    return image.reshape(n, 1, size, size)


# dlib's 68 points under a left-right mirror: point i of the mirrored face is point MIRROR[i] of the original.
MIRROR = (
    list(range(16, -1, -1))  # jaw
    + list(range(26, 16, -1))  # brows swap ends and sides
    + [27, 28, 29, 30]  # nose bridge
    + [35, 34, 33, 32, 31]  # nostrils
    + [45, 44, 43, 42, 47, 46]  # the image-left eye becomes the image-right one, outer corner first
    + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65]  # inner lips
)


def mirror_landmarks(points, width: float):
    """The 68 points of the left-right mirrored image (N x 68 x 2, pixels; numpy or torch), in dlib order."""
    mirrored = points[:, MIRROR].clone() if hasattr(points, "clone") else np.array(points)[:, MIRROR]
    mirrored[..., 0] = width - mirrored[..., 0]
    return mirrored


def annotate(images: np.ndarray, points=None, boxes: dict | None = None) -> np.ndarray:
    """Copies of uint8 images (N x H x W x 3) with landmarks as red dots and region boxes as green frames."""
    out = np.array(images, copy=True)
    n, height, width, _ = out.shape
    for i in range(n):
        for box in (boxes or {}).values():
            x0, y0, x1, y1 = (int(v) for v in np.asarray(box[i]).tolist())
            x0, x1 = max(0, x0), min(width - 1, x1 - 1)
            y0, y1 = max(0, y0), min(height - 1, y1 - 1)
            out[i, y0:y1 + 1, [x0, x1]] = (40, 220, 40)
            out[i, [y0, y1], x0:x1 + 1] = (40, 220, 40)
        if points is not None:
            for x, y in np.asarray(points[i]):
                xi, yi = int(round(x)), int(round(y))
                out[i, max(0, yi - 1):yi + 1, max(0, xi - 1):xi + 1] = (255, 30, 30)
    return out
