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
