"""The classical blends face-editing tools ship, as baselines for CREGAN: no network, on uint8 images.

Each takes face A, face B (H x W x 3 uint8, the same size) and the exchange mask (H x W, 1 in the area)
and returns A with B's region (H x W x 3 uint8):

- ``paste``: Eq. 1, B's pixels in the area (no blending);
- ``feather``: the paste with a soft edge, the mask blurred by a Gaussian (roop's feathered mask);
- ``colour``: Reinhard et al.'s colour transfer, then the feather: B's area has its Lab mean and spread moved
  by what maps the ring around the area in B onto the same ring in A (skin onto skin, so the features inside
  keep their contrast), as faceswap's colour matching does;
- ``poisson`` and ``poisson-mixed``: OpenCV's ``seamlessClone`` of the paste into A (NORMAL_CLONE and
  MIXED_CLONE) with the mask grown by 1 pixel and centred where it lies, as DeepFaceLab and faceswap call it.

All work at any image size: the widths below are given at 64 px and scaled.
"""

from __future__ import annotations

import numpy as np

BLENDS = ("paste", "feather", "colour", "poisson", "poisson-mixed")
FEATHER_SIGMA_AT_64 = 1.5  # the feather's Gaussian sigma in pixels at 64 px
RING_AT_64 = 4  # the width of the ring around the area whose colour the transfer matches, at 64 px


def _scaled(width: float, size: int) -> float:
    return width * size / 64


def paste(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask[..., None] > 0, b, a).astype(np.uint8)


def feather_weights(mask: np.ndarray) -> np.ndarray:
    """The mask blurred by a Gaussian: 1 well inside the area, 0 well outside, a soft step at its edge."""
    import cv2

    sigma = _scaled(FEATHER_SIGMA_AT_64, mask.shape[0])
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)


def feather(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weight = feather_weights(mask)[..., None]
    return np.clip(weight * b + (1 - weight) * a + 0.5, 0, 255).astype(np.uint8)


def colour(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import cv2

    ring_width = max(1, round(_scaled(RING_AT_64, mask.shape[0])))
    area = mask.astype(np.uint8)
    ring = cv2.dilate(area, np.ones((2 * ring_width + 1,) * 2, np.uint8)).astype(bool) & ~area.astype(bool)
    lab_a = cv2.cvtColor(a, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab_b = cv2.cvtColor(b, cv2.COLOR_RGB2LAB).astype(np.float32)
    mean_a, std_a = lab_a[ring].mean(0), lab_a[ring].std(0) + 1e-3
    mean_b, std_b = lab_b[ring].mean(0), lab_b[ring].std(0) + 1e-3
    moved = (lab_b - mean_b) * (std_a / std_b) + mean_a
    recoloured = cv2.cvtColor(np.clip(moved + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    return feather(a, recoloured, mask)


def seamless(a: np.ndarray, b: np.ndarray, mask: np.ndarray, mixed: bool = False) -> np.ndarray:
    """OpenCV's Poisson blending of the paste into A (see the module's docstring)."""
    import cv2

    grown = cv2.dilate((mask > 0).astype(np.uint8) * 255, np.ones((3, 3), np.uint8))
    rows, columns = np.nonzero(grown.any(1))[0], np.nonzero(grown.any(0))[0]
    if len(rows) == 0:
        return a.copy()
    # OpenCV places the source rectangle with its top-left at centre - size // 2: this centre puts it back where it is
    height, width = rows[-1] + 1 - rows[0], columns[-1] + 1 - columns[0]
    centre = (int(columns[0] + width // 2), int(rows[0] + height // 2))
    flag = cv2.MIXED_CLONE if mixed else cv2.NORMAL_CLONE
    return cv2.seamlessClone(paste(a, b, mask), np.ascontiguousarray(a), grown, centre, flag)


def blend(method: str, a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A with B's region by one of ``BLENDS``."""
    if method == "paste":
        return paste(a, b, mask)
    if method == "feather":
        return feather(a, b, mask)
    if method == "colour":
        return colour(a, b, mask)
    if method in ("poisson", "poisson-mixed"):
        return seamless(a, b, mask, mixed=method == "poisson-mixed")
    raise ValueError(f"unknown blend {method!r}; blends are {', '.join(BLENDS)}")
