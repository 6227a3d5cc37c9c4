"""The classical baselines, the torch Poisson layer CREGAN builds on, and the seam measure."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gankit_cregan.blends import BLENDS, blend
from gankit_cregan.exchange import exchange_masks
from gankit_cregan.poisson import poisson_blend
from gankit_cregan.seam import seam_factor

cv2 = pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def pairs():
    """16 held-out synthetic pairs at 64 px with their eye-exchange masks (A, B: N x 64 x 64 x 3 uint8)."""
    from gankit_core.data.landmarks import region_boxes
    from gankit_core.data.synthetic import face_params, landmarks, render

    a = face_params(0, np.arange(1_000_000, 1_000_016), np.arange(16) % 7, np.full(16, 0.8))
    b = face_params(0, np.arange(1_000_100, 1_000_116), (np.arange(16) + 3) % 7, np.full(16, 0.8))
    boxes_a, boxes_b = region_boxes(landmarks(a, 64), 64)["eye_box"], region_boxes(landmarks(b, 64), 64)["eye_box"]
    mask, _ = exchange_masks(torch.from_numpy(boxes_a), torch.from_numpy(boxes_b), 64)
    return render(a, 64, "photo", 1), render(b, 64, "photo", 2), mask


def nchw(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()


def test_poisson_baselines_are_opencvs_seamless_clone(pairs):
    """The baselines call OpenCV as face tools do: the paste, the mask grown by 1 px, centred where it lies."""
    a, b, mask = pairs
    m = mask[0, 0].numpy()
    pasted = np.where(m[..., None] > 0, b[0], a[0]).astype(np.uint8)
    grown = cv2.dilate((m * 255).astype(np.uint8), np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero(grown)
    centre = ((xs.min() + xs.max() + 1) // 2, (ys.min() + ys.max() + 1) // 2)
    for method, flag in (("poisson", cv2.NORMAL_CLONE), ("poisson-mixed", cv2.MIXED_CLONE)):
        expected = cv2.seamlessClone(pasted, a[0], grown.copy(), centre, flag)  # OpenCV writes into its mask
        assert np.array_equal(blend(method, a[0], b[0], m), expected), method
        assert not np.array_equal(expected, pasted)  # it did blend


def test_the_torch_poisson_layer_computes_what_opencv_does(pairs):
    """G refines this layer's output, so it starts where OpenCV's Poisson blending is: on uint8 inputs, truncated as
    OpenCV truncates, it equals OpenCV's output but for float rounding at the truncation (at most 1 level, on
    under 0.1% of the values)."""
    a, b, mask = pairs
    masks = mask[:, 0].numpy()
    for mixed, method in ((False, "poisson"), (True, "poisson-mixed")):
        expected = np.stack([blend(method, *images) for images in zip(a, b, masks, strict=True)])
        pasted = nchw(np.where(masks[..., None] > 0, b, a))
        ours = poisson_blend(nchw(a), pasted, mask, mixed).clamp(0, 255).floor().permute(0, 2, 3, 1).numpy()
        difference = np.abs(ours - expected)
        assert difference.max() <= 1 and (difference > 0).mean() < 1e-3, method


def test_the_poisson_layer_is_differentiable_and_local(pairs):
    a, b, mask = pairs
    target, source = nchw(a[:2]).requires_grad_(), nchw(b[:2]).requires_grad_()
    out = poisson_blend(target, source, mask[:2], mixed=True)
    outside = torch.nn.functional.max_pool2d(mask[:2], 5, 1, 2) == 0  # beyond the grown mask's rectangle ring
    rows, columns = mask[:2].amax(3, keepdim=True) > 0, mask[:2].amax(2, keepdim=True) > 0
    far = outside & ~(rows & columns)  # outside the area's bounding rectangle
    assert torch.equal(out.detach().expand_as(target)[far.expand_as(target)], target.detach()[far.expand_as(target)])
    (out * torch.randn_like(out)).sum().backward()
    assert source.grad.abs().sum() > 0 and torch.isfinite(source.grad).all() and torch.isfinite(target.grad).all()


def test_every_baseline_keeps_the_face_outside_the_area_and_changes_it_inside(pairs):
    a, b, mask = pairs
    m = mask[0, 0].numpy()
    far = cv2.dilate(m.astype(np.uint8), np.ones((15, 15), np.uint8)) == 0
    for method in BLENDS:
        out = blend(method, a[0], b[0], m)
        assert out.shape == a[0].shape and out.dtype == np.uint8
        assert np.array_equal(out[far], a[0][far]), method
        assert np.abs(out[m > 0].astype(int) - a[0][m > 0]).mean() > 3, method


def test_seam_is_one_for_an_unedited_face_and_worst_for_the_paste(pairs):
    a, b, mask = pairs
    faces = nchw(a)
    assert torch.allclose(seam_factor(faces, faces, mask), torch.ones(len(a), dtype=torch.float64))
    masks = mask[:, 0].numpy()
    seams = {method: seam_factor(nchw(np.stack([blend(method, *x) for x in zip(a, b, masks, strict=True)])), faces,
                                 mask).log().mean().item() for method in BLENDS}
    assert max(seams, key=seams.get) == "paste", seams
    assert seams["poisson-mixed"] < seams["feather"] < seams["paste"], seams
