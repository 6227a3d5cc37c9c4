"""The ``synthetic-faces`` dataset: a rendered, cached training set of synthetic faces with ground truth."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

import numpy as np

from gankit_core.data import Dataset, parse_options
from gankit_core.data.synthetic import EXPRESSIONS, RENDER_VERSION, STYLES, face_params, landmarks, render
from gankit_core.errors import DataError
from gankit_core.progress import Steps

OPTIONS = {"n": int, "style": str, "identities": int, "split": str, "cache": bool}
DEFAULT_COUNT = 4096
CHUNK = 256  # faces rendered per vectorised call: bounded memory at any size


def cache_dir() -> Path:
    """Where rendered sets are kept: $GANKIT_CACHE, else $XDG_CACHE_HOME/gankit, else ~/.cache/gankit."""
    if os.environ.get("GANKIT_CACHE"):
        return Path(os.environ["GANKIT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gankit"


def sample_plan(seed: int, count: int, identities: int, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Identity, expression and intensity of each face: train and test use disjoint identities."""
    rng = np.random.default_rng([seed, 104729, 0 if split == "train" else 1])
    offset = 0 if split == "train" else 1_000_000
    identity = offset + rng.integers(0, identities, count)
    expression = rng.integers(0, len(EXPRESSIONS), count)
    intensity = rng.uniform(0.6, 1.0, count)
    return identity, expression, intensity


def render_set(seed: int, count: int, size: int, style: str, identities: int, split: str) -> dict[str, np.ndarray]:
    """Render a whole set: uint8 images (N x 3 x H x W), landmarks, boxes and labels."""
    from gankit_core.data.landmarks import region_boxes

    identity, expression, intensity = sample_plan(seed, count, identities, split)
    images = np.empty((count, 3, size, size), dtype=np.uint8)
    points = np.empty((count, 68, 2), dtype=np.float32)
    # The first use of a size and style renders for seconds (cached after): say so on a terminal.
    with Steps(f"rendering {count} synthetic {style} faces at {size} px", count) as progress:
        for start in range(0, count, CHUNK):
            stop = min(start + CHUNK, count)
            params = face_params(seed, identity[start:stop], expression[start:stop], intensity[start:stop])
            pictures = render(params, size, style, noise_seed=seed * 1_000_003 + start)
            images[start:stop] = pictures.transpose(0, 3, 1, 2)
            points[start:stop] = landmarks(params, size)
            progress.advance(stop - start)
    boxes = region_boxes(points, size)
    return {
        "image": images,
        "landmarks": points,
        "eye_box": boxes["eye_box"],
        "mouth_box": boxes["mouth_box"],
        "identity": identity.astype(np.int64),
        "expression": expression.astype(np.int64),
        "intensity": intensity.astype(np.float32),
    }


def cached_arrays(name: str, key: str, build, cache: bool = True) -> dict[str, np.ndarray]:
    """``build()``'s arrays through a disk cache file named by ``name`` and a hash of ``key`` (every parameter the
    arrays depend on); safetensors, written atomically."""
    path = cache_dir() / f"{name}-{hashlib.sha1(key.encode()).hexdigest()[:16]}.safetensors"
    if cache and path.is_file():
        from safetensors.numpy import load_file

        try:
            return load_file(str(path))
        except Exception:  # a damaged cache file is re-rendered, not trusted
            path.unlink(missing_ok=True)
    arrays = build()
    if cache:
        from safetensors.numpy import save

        from gankit_core.engine.checkpoint import write_atomic

        with contextlib.suppress(OSError):  # a read-only home still trains, rendering each time
            write_atomic(path, save({k: np.ascontiguousarray(v) for k, v in arrays.items()}))
    return arrays


def load_or_render(seed: int, count: int, size: int, style: str, identities: int, split: str, cache: bool = True):
    """``render_set`` through the disk cache."""
    key = f"v{RENDER_VERSION}-{seed}-{count}-{size}-{style}-{identities}-{split}"
    return cached_arrays("synthetic-faces", key, lambda: render_set(seed, count, size, style, identities, split), cache)


def synthetic_faces(argument: str | None, image_size: int, seed: int = 0, strict: bool = False) -> Dataset:
    """Factory for ``synthetic-faces[:style=cartoon,n=4096,identities=1000,split=train]``."""
    import torch

    options = parse_options(argument, OPTIONS, "synthetic-faces")
    style = options.get("style", "photo")
    if style not in STYLES:
        raise DataError(f"synthetic-faces: style must be one of {', '.join(STYLES)}, not {style!r}")
    split = options.get("split", "train")
    if split not in ("train", "test"):
        raise DataError(f"synthetic-faces: split must be train or test, not {split!r}")
    count = options.get("n", DEFAULT_COUNT)
    identities = options.get("identities", 1000)
    if count < 1 or identities < 1:
        raise DataError("synthetic-faces: n and identities must be at least 1")
    if not 32 <= image_size <= 512:
        raise DataError(f"synthetic-faces renders 32 to 512 pixels, not {image_size}")
    arrays = load_or_render(seed, count, image_size, style, identities, split, options.get("cache", True))
    fields = {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in arrays.items()}
    fields["style"] = torch.full((count,), STYLES.index(style), dtype=torch.int64)
    return Dataset(f"synthetic-faces:{style}", fields, {"style": style, "split": split, "seed": seed})


UNPAIRED_OPTIONS = {"n": int, "a": str, "b": str, "identities": int, "split": str, "cache": bool, "paired": bool}
DOMAIN_B_SEED = 7_919  # added to the run's seed: domain B's faces are other people than domain A's


def synthetic_unpaired(argument: str | None, image_size: int, seed: int = 0, strict: bool = False) -> Dataset:
    """Factory for ``synthetic-unpaired[:a=photo,b=cartoon,n=4096,identities=1000,split=train]``: two domains
    for unpaired translation, ``image`` (A) and ``image_b`` (B), as the ``unpaired:PATH`` folders give them.

    B is rendered from another seed, so no face of A has its twin in B: the training data is unpaired, as
    real sets are. The twins (one face in both styles) are ``translation_twins``, for evaluation only.
    ``paired=true`` renders B from A's seed instead, so ``image_b[i]`` is the twin of ``image[i]``: the paired
    oracle a translation model's ``paired_weight`` trains against, an upper reference and nothing else.
    """
    import torch

    options = parse_options(argument, UNPAIRED_OPTIONS, "synthetic-unpaired")
    styles = options.get("a", "photo"), options.get("b", "cartoon")
    for style in styles:
        if style not in STYLES:
            raise DataError(f"synthetic-unpaired: a and b must be one of {', '.join(STYLES)}, not {style!r}")
    split = options.get("split", "train")
    if split not in ("train", "test"):
        raise DataError(f"synthetic-unpaired: split must be train or test, not {split!r}")
    count, identities = options.get("n", DEFAULT_COUNT), options.get("identities", 1000)
    if count < 1 or identities < 1:
        raise DataError("synthetic-unpaired: n and identities must be at least 1")
    if not 32 <= image_size <= 512:
        raise DataError(f"synthetic-unpaired renders 32 to 512 pixels, not {image_size}")
    cache = options.get("cache", True)
    domain_a = load_or_render(seed, count, image_size, styles[0], identities, split, cache)["image"]
    seed_b = seed if options.get("paired", False) else seed + DOMAIN_B_SEED
    domain_b = load_or_render(seed_b, count, image_size, styles[1], identities, split, cache)["image"]
    fields = {"image": torch.from_numpy(domain_a), "image_b": torch.from_numpy(domain_b)}
    return Dataset(f"synthetic-unpaired:{styles[0]}->{styles[1]}", fields,
                   {"styles": styles, "split": split, "seed": seed})


def translation_twins(seed: int, count: int, size: int, styles: tuple[str, str], identities: int = 1000):
    """Held-out faces rendered in both styles (same identity, expression, pose and noise): uint8 N x 3 x H x W
    for each style, image for image the exact translation of the other. Test identities only."""
    first, second = (load_or_render(seed, count, size, style, identities, "test")["image"] for style in styles)
    return first, second
