"""dlib face detection and 68 landmarks, with the predictor shipped in face-recognition-models."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from gankit_core.errors import DataError
from gankit_core.landmarking import DetectedFace

PREDICTOR = "shape_predictor_68_face_landmarks.dat"


def predictor_path() -> Path:
    """Find the predictor file without importing face_recognition_models (its import needs pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the dlib landmark detector needs the face-recognition-models package: "
                        "pip install face-recognition-models")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "models" / PREDICTOR
        if candidate.is_file():
            return candidate
    raise DataError(f"face-recognition-models is installed but has no models/{PREDICTOR}")


class DlibDetector:
    """Frontal faces (HOG + linear SVM) and 68 points each; ~3 ms per face after a ~1 s load."""

    # The SVM margin a further face needs for --all-faces. On scikit-image's astronaut her face scores 1.16 and
    # the round patch on her suit 0.12; dlib keeps anything above 0, so weak detections of patterns are common.
    score_threshold = 0.5

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError:
            raise DataError("the dlib landmark detector needs dlib: pip install dlib-bin") from None
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(predictor_path()))

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        image = np.ascontiguousarray(image, dtype=np.uint8)
        # upsample once: faces down to ~40 px are found; scores rank several faces
        rectangles, scores, _ = self._detector.run(image, 1, 0.0)
        faces = []
        for rectangle, score in zip(rectangles, scores, strict=True):
            shape = self._predictor(image, rectangle)
            points = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], dtype=np.float64)
            box = (float(rectangle.left()), float(rectangle.top()), float(rectangle.right()), float(rectangle.bottom()))
            faces.append(DetectedFace(box, float(score), points))
        return sorted(faces, key=lambda face: -face.score)
