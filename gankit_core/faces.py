"""Faces from the user's files for the face commands (``gankit swap``, ``gankit transfer``): a crop at the model's
size framed as the synthetic training faces are, and the model's output put back into the photo it came from.

The synthetic faces' 68 landmarks span 0.54 of the crop's side, centred 0.14 of the side below its middle (the
hair is above): measured over 200 faces of ``synthetic-faces`` and of ``synthetic-expression`` at 64 px (spans
0.543 and 0.545, standard deviation 0.03; centres 0.141 and 0.140 below the middle). A photo is cropped so that
its detected landmarks sit there too, so a model sees a real face where it learnt to find one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FACE_SPAN = 0.54  # the landmarks' extent, as a fraction of the crop's side
HEADROOM = 0.14  # how far below the crop's middle the landmarks' centre sits, as a fraction of the side


@dataclass
class Face:
    """A face ready for a model: the crop (size x size x 3 uint8), what is known of it, and where it came from."""

    crop: np.ndarray
    points: np.ndarray | None = None  # 68 x 2 in crop pixels (from the detector, or a landmarks.csv beside a crop)
    boxes: dict[str, np.ndarray] | None = None  # eye_box, mouth_box in crop pixels (x0, y0, x1, y1)
    photo: np.ndarray | None = None  # the original photo, when the crop was cut from one
    origin: tuple[float, float, float] = (0.0, 0.0, 1.0)  # x, y and side of the crop in the photo

    def at_side(self, side: int) -> np.ndarray:
        """The crop at ``side`` x ``side`` pixels (float32): cut again from the photo when there is one, so it is
        as sharp as the photo allows rather than an enlarged crop."""
        from PIL import Image

        if self.photo is None:
            source = Image.fromarray(self.crop)
        else:
            x, y, crop_side = self.origin
            x0, y0 = int(round(x)), int(round(y))
            source = Image.fromarray(self.photo).crop((x0, y0, x0 + int(round(crop_side)), y0 + int(round(crop_side))))
        return np.asarray(source.resize((side, side), Image.Resampling.LANCZOS)).astype(np.float32)


def frame_face(photo: np.ndarray, points: np.ndarray, size: int) -> Face:
    """The square crop of ``photo`` (H x W x 3 uint8) that puts its 68 ``points`` (pixels) where the synthetic faces
    have theirs, resized to ``size``; the part of the square outside the photo is black."""
    from PIL import Image

    from gankit_core.data.landmarks import region_boxes

    low, high = points.min(0), points.max(0)
    side = float(max(high - low) / FACE_SPAN)
    centre_x, centre_y = (low + high) / 2 - [0, HEADROOM * side]
    x0, y0 = int(round(centre_x - side / 2)), int(round(centre_y - side / 2))
    side_px = int(round(side))
    crop = Image.fromarray(photo).crop((x0, y0, x0 + side_px, y0 + side_px)).resize((size, size),
                                                                                    Image.Resampling.LANCZOS)
    crop_points = (points - [x0, y0]) * (size / side_px)
    boxes = {key: value[0] for key, value in region_boxes(crop_points[None], size).items()}
    return Face(np.array(crop), crop_points, boxes, photo, (float(x0), float(y0), float(side_px)))


def prepare_face(path: Path, size: int, labels: Callable[[Path], dict[str, Any] | None]) -> Face:
    """The face in the image at ``path`` for a model of ``size`` px. A crop of exactly that size that ``labels``
    knows (it returns Face fields from a table beside the file, e.g. ``{"points": ...}``, or None) is used as it
    is; any other image is a photo: the installed landmark detector finds its best face, framed by ``frame_face``.
    An unreadable file, no face or no detector is a one-line error."""
    from gankit_core.data.folders import read_user_image
    from gankit_core.landmarking import detect_faces

    photo = read_user_image(path)
    if photo.shape[0] == photo.shape[1] == size:
        known = labels(path)
        if known is not None:
            return Face(photo, **known)
    return frame_face(photo, detect_faces(photo, where=str(path))[0].points, size)


def paste_back(face: Face, output: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """A model's ``output`` for ``face`` put back where the face came from, blended by ``alpha`` (1 where the output
    replaces the original, in [0, 1]) and returned as uint8. For a photo, ``output`` (a square, uint8 or float in
    [0, 255], at any side) and ``alpha`` are resized to the square the crop was cut from and blended there; the
    rest of the photo is untouched. For a crop, they are blended with the crop itself."""
    if face.photo is None:
        blended = alpha[..., None] * output + (1 - alpha[..., None]) * face.crop.astype(float)
        return np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    from PIL import Image

    if output.dtype != np.uint8:
        output = np.clip(output + 0.5, 0, 255).astype(np.uint8)
    x, y, side = face.origin
    side_px = int(round(side))
    big = np.asarray(Image.fromarray(output).resize((side_px, side_px), Image.Resampling.LANCZOS)).astype(float)
    weight = Image.fromarray(alpha.astype(np.float32)).resize((side_px, side_px), Image.Resampling.BILINEAR)
    weight = np.asarray(weight).astype(float).clip(0, 1)[..., None]
    result = face.photo.astype(float).copy()
    x0, y0 = int(round(x)), int(round(y))
    px0, py0 = max(0, x0), max(0, y0)
    px1, py1 = min(result.shape[1], x0 + side_px), min(result.shape[0], y0 + side_px)
    region = (slice(py0 - y0, py1 - y0), slice(px0 - x0, px1 - x0))
    result[py0:py1, px0:px1] = weight[region] * big[region] + (1 - weight[region]) * result[py0:py1, px0:px1]
    return np.clip(result + 0.5, 0, 255).astype(np.uint8)
