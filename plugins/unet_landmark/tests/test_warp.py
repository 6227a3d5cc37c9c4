"""The landmark-driven warps (the expression model's baselines) and reading points back off a landmark image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gankit_unet_landmark.model import GaussianBlur, landmark_images
from gankit_unet_landmark.reading import POSITION_IN_MOVING, draw_lines, read_points, segments
from gankit_unet_landmark.warp import (
    MOVING,
    aligned_source_points,
    feature_masks,
    frame_points,
    local_warp,
    piecewise_affine,
    sample,
    warp_coordinates,
)

from gankit_core.data.synthetic import EXPRESSIONS, render_faces

SIZE = 64


def faces(expression: str, identities=(3, 8, 21)):
    """Images in [-1, 1] (N x 3 x SIZE x SIZE) and their exact landmarks of the identities with one expression."""
    count = len(identities)
    images, points = render_faces(0, identities, [EXPRESSIONS.index(expression)] * count, [1.0] * count, SIZE)
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1, torch.from_numpy(points).float()


def test_the_warp_takes_the_landmarks_exactly_to_the_requested_points():
    _, neutral = faces("neutral")
    _, surprised = faces("surprise")
    for before, after in zip(neutral.double().numpy(), surprised.double().numpy(), strict=True):
        # the output pixel at each requested point is read from the landmark's old place
        assert np.allclose(warp_coordinates(before, after, after, SIZE), before, atol=1e-6)


@pytest.mark.parametrize("warp", [piecewise_affine, local_warp])
@pytest.mark.parametrize(("before", "after"), [("neutral", "surprise"), ("happiness", "sadness"), ("anger", "fear")])
def test_the_warped_image_holds_each_feature_point_at_its_requested_place(warp, before, after):
    """Through the image itself (the sampling included): warp an image whose pixels hold their own coordinates, then
    read it at the requested points; each should hold its landmark's old place. Measured: median error 0.05-0.12 px,
    mean 0.07-0.21 px, for moves of 0.59-1.17 px on average; bilinear reading across the thin lip triangles' kinks is
    what is left."""
    _, old = faces(before)
    _, new = faces(after)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    coordinates = torch.from_numpy(np.stack([xs, ys])).double().expand(len(old), -1, -1, -1)
    warped = warp(coordinates, old.double(), new.double())
    for image, start, goal in zip(warped.numpy(), old.double().numpy()[:, MOVING], new.double().numpy()[:, MOVING],
                                  strict=True):
        error = np.linalg.norm(sample(image, goal).T - start, axis=1)
        moved = np.linalg.norm(goal - start, axis=1)
        assert np.median(error) < 0.15 and error.mean() < 0.4 * moved.mean()


def test_the_warp_moves_a_face_to_the_other_expression():
    """Warping happy faces to their own sad landmarks brings every face closer to its sad render where the expression
    lives (measured: at least +1.1 dB on each of 14 faces)."""
    from gankit_unet_landmark.evaluation import feature_mask

    from gankit_core.metrics.image_quality import masked_psnr

    identities = tuple(range(0, 40, 3))
    happy, happy_points = faces("happiness", identities)
    sad, sad_points = faces("sadness", identities)
    features = feature_mask(happy_points, sad_points, SIZE)
    warped = local_warp(happy, happy_points, sad_points)
    gain = masked_psnr(warped, sad, features, (-1, 1)) - masked_psnr(happy, sad, features, (-1, 1))
    assert (gain > 0.5).all()


def test_the_warp_is_the_identity_when_no_point_moves():
    images, points = faces("happiness")
    assert torch.allclose(piecewise_affine(images, points, points), images, atol=1e-5)
    assert torch.equal(local_warp(images, points, points)[:, :, :SIZE // 4], images[:, :, :SIZE // 4])
    assert torch.allclose(local_warp(images, points, points), images, atol=1e-5)


def test_the_local_warp_changes_only_the_features():
    images, points = faces("neutral")
    _, moved = faces("anger")
    warped = local_warp(images, points, moved)
    mask = feature_masks(points, moved, SIZE)
    assert torch.equal(warped * (mask == 0), images * (mask == 0))  # outside the features: every pixel as it was
    assert (warped != images).any()
    assert mask.mean() < 0.2  # brows, eyes and mouth: a small part of the face


def test_the_warp_is_scikit_images_piecewise_affine_transform():
    from skimage.transform import PiecewiseAffineTransform

    _, before = faces("sadness")
    _, after = faces("fear")
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    pixels = np.stack([xs.ravel(), ys.ravel()], 1)
    frame = frame_points(SIZE)
    for old, new in zip(before.double().numpy(), after.double().numpy(), strict=True):
        inverse = PiecewiseAffineTransform.from_estimate(np.concatenate([new, frame]) - 0.5,
                                                         np.concatenate([old, frame]) - 0.5)
        assert np.allclose(warp_coordinates(old, new, pixels, SIZE), inverse(pixels - 0.5) + 0.5, atol=1e-8)


def test_the_classical_alignment_carries_the_source_points_by_a_similarity():
    _, target = faces("neutral")
    angle = torch.tensor(0.1)
    rotation = torch.tensor([[angle.cos(), -angle.sin()], [angle.sin(), angle.cos()]])
    source = 1.3 * target @ rotation.T + torch.tensor([5.0, -3.0])  # the same face, bigger, turned and shifted
    assert torch.allclose(aligned_source_points(source, target), target, atol=1e-3)
    _, other = faces("surprise")
    aligned = aligned_source_points(other, target)
    still = np.setdiff1d(np.arange(68), MOVING)
    assert torch.equal(aligned[:, still], target[:, still])  # the jaw and nose stay the target's


@pytest.mark.parametrize("size", [64, 128])
def test_points_read_off_a_landmark_image_draw_that_image(size):
    """From a face's neutral points, reading its surprised landmark image moves the brows most of the way to their
    true places and draws an image ten times closer to the one read; reading the start's own image keeps it."""
    scale = size / SIZE
    _, start = faces("neutral")
    _, truth = faces("surprise")
    start, truth = start * scale, truth * scale
    thickness, blur = max(1.0, size / 128), 1.0 * scale
    image = landmark_images(truth, size, thickness, blur)
    read = read_points(image, start, thickness, blur)
    drawn = landmark_images(read, size, thickness, blur)
    assert (drawn - image).abs().mean() < 0.1 * (landmark_images(start, size, thickness, blur) - image).abs().mean()
    brows = slice(17, 27)
    assert (read[:, brows] - truth[:, brows]).norm(dim=-1).mean() < 0.3 * (start[:, brows] - truth[:, brows]).norm(
        dim=-1).mean()
    unchanged = read_points(landmark_images(start, size, thickness, blur), start, thickness, blur)
    assert (unchanged - start).norm(dim=-1).max() < 0.1 * scale


def _draw_lines_over_offset_pairs(points, starts, ends, box, thickness, base=None):
    """draw_lines as it was first written: every window pixel's (x, y) offset from its segment's start as one
    N x S x P x 2 tensor, reduced over the pair (the straightforward form the per-coordinate one must equal)."""
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    a, b = points[:, starts], points[:, ends]
    reach = thickness / 2 + 0.5
    with torch.no_grad():
        corner = (torch.minimum(a, b) - reach).floor()
        span = int((torch.maximum(a, b) + reach - corner).amax().ceil()) + 1
    steps = torch.arange(span, device=points.device, dtype=points.dtype)
    grid = torch.stack(torch.meshgrid(steps, steps, indexing="xy"), -1).reshape(-1, 2)
    pixel = corner[:, :, None] + grid
    direction = (b - a)[:, :, None]
    offset = pixel + 0.5 - a[:, :, None]
    along = ((offset * direction).sum(-1) / direction.pow(2).sum(-1).clamp_min(1e-9)).clamp(0, 1)
    distance = (offset - along[..., None] * direction).pow(2).sum(-1).add(1e-12).sqrt()
    value = (thickness / 2 + 0.5 - distance).clamp(0, 1)
    column, row = pixel[..., 0] - x0, pixel[..., 1] - y0
    inside = (column >= 0) & (column < width) & (row >= 0) & (row < height)
    index = (row * width + column).clamp(0, width * height - 1).long()
    canvas = torch.zeros(points.shape[0], height * width, dtype=points.dtype, device=points.device)
    if base is not None:
        canvas = canvas + base.reshape(points.shape[0], -1)
    lines = canvas.scatter_reduce(1, index.flatten(1), (value * inside).flatten(1), "amax", include_self=True)
    return lines.reshape(-1, 1, height, width)


@pytest.mark.parametrize(("size", "dtype"), [(64, torch.float32), (256, torch.float64)])
def test_lines_drawn_per_coordinate_are_the_lines_drawn_over_offset_pairs(size, dtype):
    """The same line values bit for bit, the same gradients to the points (fp64: to 1e-12), over a box that cuts
    some segments' windows, with and without a base image, from all 68 points or from the moving ones alone."""
    _, neutral = faces("neutral")
    _, surprised = faces("surprise")
    scale = size / SIZE
    points = (torch.lerp(neutral, surprised, 0.6) * scale).to(dtype).requires_grad_(True)
    box = (int(20 * scale), int(14 * scale), int(50 * scale), int(52 * scale))
    thickness = max(1.0, size / 128)
    base = _draw_lines_over_offset_pairs(points.detach(), *segments(False), box, thickness)
    for starts, ends in (segments(True), segments(False)):
        for under in (None, base):
            want = _draw_lines_over_offset_pairs(points, starts, ends, box, thickness, under)
            have = draw_lines(points, starts, ends, box, thickness, under)
            assert torch.equal(have, want)
            weights = torch.linspace(-1, 1, want.numel(), dtype=dtype).view_as(want)
            (want_grad,) = torch.autograd.grad((want * weights).sum(), points)
            (have_grad,) = torch.autograd.grad((have * weights).sum(), points)
            assert torch.allclose(have_grad, want_grad, rtol=0, atol=1e-12 if dtype == torch.float64 else 1e-4)
    starts, ends = segments(True)
    moving = points.detach()[:, MOVING]
    assert torch.equal(draw_lines(moving, POSITION_IN_MOVING[starts], POSITION_IN_MOVING[ends], box, thickness),
                       draw_lines(points.detach(), starts, ends, box, thickness))


def test_the_banded_blur_is_a_zero_padded_gaussian_convolution():
    torch.manual_seed(0)
    images = torch.rand(2, 1, 30, 41, dtype=torch.float64)
    for sigma in (1.0, 2.5):
        blur = GaussianBlur(sigma, (30, 41), images)
        radius = max(1, int(3 * sigma + 0.5))
        taps = torch.exp(-torch.arange(-radius, radius + 1, dtype=torch.float64) ** 2 / (2 * sigma**2))
        taps = taps / taps.sum()
        rows = torch.nn.functional.conv2d(images, taps.view(1, 1, -1, 1), padding=(radius, 0))
        both = torch.nn.functional.conv2d(rows, taps.view(1, 1, 1, -1), padding=(0, radius))
        assert torch.allclose(blur(images), both, rtol=0, atol=1e-14)
        assert blur.peak == pytest.approx(float(taps[radius]))
