"""Image tensors to and from files: grids of samples, PNG writing, [-1, 1] <-> uint8."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from einops import rearrange

GREY_LEVEL = 1 / 127.5  # one 8-bit grey level, as a difference in the [-1, 1] range


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float images -> uint8 in [0, 255] (N x 3 x H x W, on the CPU)."""
    return ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [-1, 1], keeping the device and memory format."""
    return images.float().div_(127.5).sub_(1.0)


def unit_batch(batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A dataset batch with every uint8 image field (N x 3 x H x W) in [-1, 1] and the other fields as they are."""
    return {key: (to_unit(value) if value.dtype == torch.uint8 and value.dim() == 4 else value)
            for key, value in batch.items()}


def unit_images(array: np.ndarray) -> torch.Tensor:
    """uint8 images as NumPy arrays (H x W x 3, or N x H x W x 3: decoded files, rendered faces) -> a contiguous
    N x 3 x H x W float tensor in [-1, 1]."""
    images = torch.from_numpy(np.asarray(array))
    if images.dim() == 3:
        images = images[None]
    return to_unit(rearrange(images, "n h w c -> n c h w").contiguous())


def make_grid(images: torch.Tensor, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """uint8 or [-1, 1] images (N x 3 x H x W) -> one H' x W' x 3 uint8 array, row by row."""
    if images.dtype != torch.uint8:
        images = to_uint8(images)
    images = images.cpu()
    count = images.shape[0]
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    fill = rows * columns - count
    if fill:
        images = torch.cat([images, torch.zeros(fill, *images.shape[1:], dtype=torch.uint8)])
    images = torch.nn.functional.pad(images, (padding, 0, padding, 0))
    grid = rearrange(images, "(r c) ch h w -> (r h) (c w) ch", r=rows, c=columns)
    grid = torch.nn.functional.pad(rearrange(grid, "h w ch -> ch h w"), (0, padding, 0, padding))
    return rearrange(grid, "ch h w -> h w ch").numpy()


def png_bytes(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Write an H x W x 3 uint8 array as PNG, atomically."""
    from gankit_core.engine.checkpoint import write_atomic

    path = Path(path)
    write_atomic(path, png_bytes(array))
    return path


def save_grid(images: torch.Tensor, path: str | Path, columns: int | None = None) -> Path:
    return save_png(make_grid(images, columns), path)
