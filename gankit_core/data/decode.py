"""Image files decoded for gankit: any format Pillow reads, EXIF orientation honoured, grayscale and alpha made
RGB (alpha over white), optionally centre-cropped to a square and resized with an antialiased filter.

Its own module so that the folder datasets (gankit_core.data.folders) and the cache that holds their decoded
images (gankit_core.data.prepared) both use it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gankit_core.errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


@dataclass(frozen=True)
class Placement:
    """How an image was mapped to the square output: output = (input - offset) * scale."""

    offset_x: float
    offset_y: float
    scale: float

    def apply(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, float) - [self.offset_x, self.offset_y]) * self.scale


class UnreadableImage(Exception):
    """A file Pillow cannot decode (corrupt, truncated, not an image); the message says why."""


def read_image(path: Path, size: int | None = None) -> tuple[np.ndarray, Placement]:
    """An RGB uint8 array (H x W x 3), centre-cropped and resized to ``size`` when given."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            opened.load()  # decode now: a truncated file fails here, not later
            image = ImageOps.exif_transpose(opened)
            if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
                image = image.convert("RGBA")
                background = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(background, image)
            image = image.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UnreadableImage(reason) from None
    if size is None:
        return np.array(image), Placement(0.0, 0.0, 1.0)  # a writable copy: torch.from_numpy takes it as it is
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
    return np.array(image), Placement(float(left), float(top), size / side)


def require_image_file(path: Path) -> Path:
    """``path`` when it names a file; a folder or a missing path is a one-line DataError (commands that take
    images check them before loading a checkpoint)."""
    if path.is_dir():
        raise DataError(f"{path} is a folder, not an image")
    if not path.is_file():
        raise DataError(f"image not found: {path}")
    return path


def read_user_image(path: Path) -> np.ndarray:
    """An image file the user named, as RGB uint8; a missing or unreadable file is a one-line DataError."""
    require_image_file(path)
    try:
        return read_image(path)[0]
    except UnreadableImage as error:
        raise DataError(f"cannot read image {path}: {error}") from None


__all__ = ["IMAGE_SUFFIXES", "Placement", "UnreadableImage", "read_image", "read_user_image", "require_image_file"]
