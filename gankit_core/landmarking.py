"""Face landmarks for real photos through whichever landmark-detector plugin is installed.

A detector is registered (``register_landmark_detectors``) as a factory returning an object with
``detect(image) -> list[DetectedFace]`` for an H x W x 3 uint8 RGB image, best face first, and optionally a
``score_threshold``: the score a further face needs to be reported by ``--all-faces``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gankit_core.errors import DataError

INSTALL_HINT = "pip install gankit-landmarks-dlib (plugins/landmarks_dlib in the gankit repository)"


@dataclass
class DetectedFace:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
    score: float
    points: np.ndarray  # 68 x 2, pixels, iBUG/dlib order


_DETECTORS: dict[str, object] = {}


def get_detector(name: str | None = None):
    """The named detector, or the first installed one; a DataError says which plugin to install."""
    from gankit_core.plugins import get_registry

    registry = get_registry()
    names = registry.names("landmark-detector")
    if not names:
        raise DataError(f"this needs face landmarks and no landmark detector is installed: {INSTALL_HINT}")
    chosen = name or ("dlib68" if "dlib68" in names else names[0])
    if chosen not in _DETECTORS:
        _DETECTORS[chosen] = registry.get("landmark-detector", chosen).load()()
    return _DETECTORS[chosen]


def detect_faces(image: np.ndarray, all_faces: bool = False, detector: str | None = None,
                 where: str = "image") -> list[DetectedFace]:
    """Faces in an RGB uint8 image, highest score first: the best one, and with ``all_faces`` every further face
    whose score reaches the detector's ``score_threshold`` (a weak second detection is a pattern, not a face)."""
    found = get_detector(detector)
    faces = sorted(found.detect(image), key=lambda face: -face.score)
    if not faces:
        raise DataError(f"no face found in {where}")
    if not all_faces:
        return faces[:1]
    threshold = getattr(found, "score_threshold", float("-inf"))  # optional: a detector's scores are its own scale
    return faces[:1] + [face for face in faces[1:] if face.score >= threshold]


def detect_landmarks(images: np.ndarray, paths: list[Path]) -> np.ndarray:
    """68 points for the best face of each image (N x H x W x 3) -> N x 68 x 2."""
    return np.stack([detect_faces(image, where=str(path))[0].points for image, path in zip(images, paths, strict=True)])


def paste_into_photo(photo: np.ndarray, origin: tuple[float, float, float], crop: np.ndarray,
                     alpha: np.ndarray) -> np.ndarray:
    """A generated ``crop`` (S x S x 3 uint8) put back into the ``photo`` it was cut from: resized to the square
    ``origin`` = (x, y, side) it came from and blended by ``alpha`` (S x S in [0, 1]: 1 where the crop replaces
    the photo); everything outside that square is the photo, untouched. ``gankit swap`` and ``gankit transfer``
    paste their results into real photos this way."""
    from PIL import Image

    x, y, side = origin
    side_px = int(round(side))
    big = np.asarray(Image.fromarray(crop).resize((side_px, side_px), Image.Resampling.LANCZOS)).astype(float)
    weight = Image.fromarray(alpha.astype(np.float32)).resize((side_px, side_px), Image.Resampling.BILINEAR)
    weight = np.asarray(weight).astype(float).clip(0, 1)[..., None]
    result = photo.astype(float).copy()
    x0, y0 = int(round(x)), int(round(y))
    px0, py0 = max(0, x0), max(0, y0)
    px1, py1 = min(result.shape[1], x0 + side_px), min(result.shape[0], y0 + side_px)
    region = (slice(py0 - y0, py1 - y0), slice(px0 - x0, px1 - x0))
    result[py0:py1, px0:px1] = weight[region] * big[region] + (1 - weight[region]) * result[py0:py1, px0:px1]
    return np.clip(result + 0.5, 0, 255).astype(np.uint8)
