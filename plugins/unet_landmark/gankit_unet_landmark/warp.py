"""Landmark-driven warping: the classical way to move an expression, and the expression model's baselines.

A piecewise-affine warp (scikit-image's ``PiecewiseAffineTransform``, over the 68 points plus the image's corners
and edge midpoints, so the whole image is covered) moves the face so that its landmarks land on new points. Over
the whole face it smooths the photo's texture everywhere; the *local* warp keeps it only over the features that
an expression moves (each brow, each eye, the mouth: the convex hulls of their points before and after, grown and
feathered), and leaves every other pixel exactly as it was. ``aligned_source_points`` is the classical choice of
new points: the source's brows, eyes and mouth carried onto the target by a similarity transform fitted on the
points an expression does not move.

Images are N x C x H x W tensors (any range); points are N x 68 x 2 in pixels, dlib order, with pixel i covering
[i, i + 1) as everywhere in gankit. The warp runs on the CPU in numpy (one image at a time) and returns a tensor on
the images' device.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from gankit_core.data.landmarks import BROWS, EYES, LEFT_EYE, MOUTH, NOSE, RIGHT_EYE

# The features an expression moves, each its own hull (a hull over both eyes would also cover the nose bridge).
FEATURES = (slice(17, 22), slice(22, 27), LEFT_EYE, RIGHT_EYE, MOUTH)
MOVING = np.r_[np.arange(68)[BROWS], np.arange(68)[EYES], np.arange(68)[MOUTH]]
# Points no expression moves (the nose and the eyes' corners): what the classical alignment is fitted on.
STABLE = np.r_[np.arange(68)[NOSE], [36, 39, 42, 45]]
GROW = 2.0  # pixels at 64 px the local warp's region extends past the features' hulls (scaled with the size)
FEATHER = 1.0  # sigma in pixels at 64 px of the Gaussian that softens the region's edge (scaled with the size)


def frame_points(size: int) -> np.ndarray:
    """The image's corners and edge midpoints (8 x 2): they pin the frame so the triangulation covers the image."""
    ends = (0.0, size / 2, float(size))
    return np.array([(x, y) for y in ends for x in ends if (x, y) != (size / 2, size / 2)])


def warp_coordinates(points: np.ndarray, moved: np.ndarray, pixels: np.ndarray, size: int) -> np.ndarray:
    """Where in the source image each output pixel (K x 2, x y) comes from, for a warp of a size x size image
    that takes ``points`` (68 x 2) to ``moved``: the inverse piecewise-affine map over the landmarks and the frame.

    The map of scikit-image's ``PiecewiseAffineTransform`` (a test checks they agree): Delaunay triangles over the
    output points, each mapped affinely onto the same triangle of the source points. Computed here through the
    triangles' barycentric coordinates, in one vectorised pass: scikit-image fits one affine transform per
    triangle in a Python loop, 0.2 s an image, which would be most of a training step."""
    from scipy.spatial import Delaunay, QhullError

    frame = frame_points(size)
    output_side, source_side = np.concatenate([moved, frame]), np.concatenate([points, frame])
    try:
        triangles = Delaunay(output_side)
    except QhullError:  # a degenerate point set (every point on one line): leave the image where it is
        return pixels
    simplex = triangles.find_simplex(pixels)
    inside = simplex >= 0  # the frame covers the image; a moved point outside it can uncover nothing, but be safe
    corners = output_side[triangles.simplices[simplex[inside]]]  # K x 3 x 2
    # Barycentric weights of each pixel in its triangle: solve [b - a, c - a] w = p - a (2 x 2, closed form).
    # (Delaunay.transform has them too, but takes 40 ms to build for 150 triangles.)
    (ax, ay), (bx, by), (cx, cy) = (corners[:, i].T for i in range(3))
    px, py = pixels[inside].T - np.stack([ax, ay])
    determinant = (bx - ax) * (cy - ay) - (cx - ax) * (by - ay)
    w_b = (px * (cy - ay) - py * (cx - ax)) / determinant
    w_c = (py * (bx - ax) - px * (by - ay)) / determinant
    weights = np.stack([1 - w_b - w_c, w_b, w_c], 1)  # K x 3
    mapped = pixels.copy()
    mapped[inside] = np.einsum("kv,kvd->kd", weights, source_side[triangles.simplices[simplex[inside]]])
    return mapped


def sample(image: np.ndarray, coordinates: np.ndarray) -> np.ndarray:
    """Bilinear samples of a C x H x W image at K x 2 (x y, pixel centres at i + 0.5) positions: C x K."""
    from scipy.ndimage import map_coordinates

    rows_cols = [coordinates[:, 1] - 0.5, coordinates[:, 0] - 0.5]
    return np.stack([map_coordinates(channel, rows_cols, order=1, mode="nearest") for channel in image])


def piecewise_affine(images: Tensor, points: Tensor, moved: Tensor) -> Tensor:
    """The whole images warped so that what sits at ``points`` lands at ``moved`` (both N x 68 x 2)."""
    size = images.shape[-1]
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    pixels = np.stack([xs.ravel(), ys.ravel()], 1)
    out = []
    for image, before, after in zip(_numpy(images), _numpy(points), _numpy(moved), strict=True):
        coordinates = warp_coordinates(before, after, pixels, size)
        out.append(sample(image, coordinates).reshape(image.shape))
    return torch.from_numpy(np.stack(out)).to(images)


def feature_masks(points: Tensor, moved: Tensor, size: int, grow: float = GROW, feather: float = FEATHER) -> Tensor:
    """N x 1 x size x size weights in [0, 1]: 1 over each feature's convex hulls at ``points`` and at ``moved``,
    grown by ``grow`` pixels and softened by a Gaussian of ``feather`` pixels (both given at 64 px and scaled)."""
    from scipy.ndimage import distance_transform_edt, gaussian_filter
    from skimage.draw import polygon2mask

    scale = size / 64
    masks = []
    for before, after in zip(_numpy(points), _numpy(moved), strict=True):
        inside = np.zeros((size, size), bool)
        for feature in FEATURES:
            for group in (before[feature], after[feature]):
                inside |= polygon2mask((size, size), _hull(group)[:, ::-1] - 0.5)  # rows, cols of pixel centres
                cols, rows = np.clip(np.floor(group), 0, size - 1).astype(int).T
                inside[rows, cols] = True  # the points themselves, should their hull be flat
        grown = distance_transform_edt(~inside) <= grow * scale
        masks.append(gaussian_filter(grown.astype(np.float64), feather * scale) if feather else grown.astype(float))
    return torch.from_numpy(np.stack(masks)[:, None]).to(points.device, torch.float32)


def local_warp(images: Tensor, points: Tensor, moved: Tensor, grow: float = GROW, feather: float = FEATHER) -> Tensor:
    """The images warped so their features' landmarks go from ``points`` to ``moved``, only over those features
    (``feature_masks``); every pixel outside keeps its value exactly."""
    size = images.shape[-1]
    masks = feature_masks(points, moved, size, grow, feather)
    out = images.clone()
    for index, (image, before, after, mask) in enumerate(
            zip(_numpy(images), _numpy(points), _numpy(moved), masks[:, 0].cpu().numpy(), strict=True)):
        rows, cols = np.nonzero(mask > 0)
        if not len(rows):
            continue
        pixels = np.stack([cols + 0.5, rows + 0.5], 1)
        warped = torch.from_numpy(sample(image, warp_coordinates(before, after, pixels, size))).to(images)
        weight = torch.from_numpy(mask[rows, cols]).to(images)
        rows_t, cols_t = torch.from_numpy(rows).to(images.device), torch.from_numpy(cols).to(images.device)
        out[index, :, rows_t, cols_t] = images[index, :, rows_t, cols_t] * (1 - weight) + warped * weight
    return out


def aligned_source_points(source: Tensor, target: Tensor) -> Tensor:
    """The classical guess at the target's landmarks with the source's expression: the target's points, with the
    brows, eyes and mouth replaced by the source's, carried onto the target by the similarity transform (scale,
    rotation, shift) that best maps the source's stable points (nose, eye corners) onto the target's."""
    from skimage.transform import SimilarityTransform

    out = target.clone()
    for index, (source_points, target_points) in enumerate(zip(_numpy(source), _numpy(target), strict=True)):
        align = SimilarityTransform.from_estimate(source_points[STABLE], target_points[STABLE])
        if align:
            out[index, MOVING] = torch.from_numpy(align(source_points[MOVING])).to(out)
    return out


def _hull(points: np.ndarray) -> np.ndarray:
    """The convex hull of 2-D points (x y), counter-clockwise; fewer than 3 distinct points are returned as they are."""
    from scipy.spatial import ConvexHull, QhullError

    try:
        return points[ConvexHull(points).vertices]
    except QhullError:  # collinear points (a closed brow seen edge-on): the mask's growth still covers them
        return points


def _numpy(tensor: Tensor) -> np.ndarray:
    return tensor.detach().double().cpu().numpy()
