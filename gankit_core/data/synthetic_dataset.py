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


PIXELS_PER_WORKER = 1 << 23  # a worker process pays for itself from about this many pixels (2048 faces at 64 px)


def render_workers(count: int, size: int) -> int:
    """Processes to render ``count`` faces at ``size`` with: one per CPU this process may use, fewer where the
    work is too small to repay starting them (a fresh interpreter each, about 0.2 s), never more than chunks."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    chunks = -(-count // CHUNK)
    return max(1, min(cpus, chunks, count * size * size // PIXELS_PER_WORKER))


def _render_chunk(seed: int, identity: np.ndarray, expression: np.ndarray, intensity: np.ndarray, size: int,
                  style: str, start: int) -> tuple[np.ndarray, np.ndarray]:
    """The chunk of a set from face ``start``: images (N x 3 x H x W uint8, C order) and landmarks (float32). Its
    noise is seeded by ``start``, so a chunk is the same whichever process renders it."""
    params = face_params(seed, identity, expression, intensity)
    pictures = render(params, size, style, noise_seed=seed * 1_000_003 + start)
    return np.ascontiguousarray(pictures.transpose(0, 3, 1, 2)), landmarks(params, size).astype(np.float32)


def render_set(seed: int, count: int, size: int, style: str, identities: int, split: str,
               workers: int | None = None) -> dict[str, np.ndarray]:
    """Render a whole set: uint8 images (N x 3 x H x W), landmarks, boxes and labels. Chunks of ``CHUNK`` faces
    render in ``workers`` processes (default: one per CPU); the set is the same for any number of them."""
    from gankit_core.data.landmarks import region_boxes

    identity, expression, intensity = sample_plan(seed, count, identities, split)
    images = np.empty((count, 3, size, size), dtype=np.uint8)
    points = np.empty((count, 68, 2), dtype=np.float32)
    starts = list(range(0, count, CHUNK))
    workers = render_workers(count, size) if workers is None else max(1, min(workers, len(starts)))
    # The first use of a size and style renders for seconds to a minute (cached after): say so on a terminal.
    with Steps(f"rendering {count} synthetic {style} faces at {size} px", count) as progress:
        if workers == 1:
            for start in starts:
                part = slice(start, start + CHUNK)
                images[part], points[part] = _render_chunk(seed, identity[part], expression[part], intensity[part],
                                                           size, style, start)
                progress.advance(len(images[part]))
        else:
            job = {"seed": seed, "count": count, "size": size, "style": style, "identities": identities,
                   "split": split}
            _render_in_processes(job, starts, workers, images, points, progress)
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


# Rendering workers are fresh interpreters (subprocess), not multiprocessing's: a spawned multiprocessing child
# re-runs the parent's __main__ script, which breaks scripts without a main guard (the README's API example),
# and a forked one inherits torch's thread pools. Worker k renders chunks k, k + W, k + 2W, ... in order and
# writes each to its stdout as raw bytes (images, then landmarks); the parent reads the chunks in set order.
_WORKER_CODE = ("import sys; sys.path.insert(0, {root!r}); "
                "from gankit_core.data.synthetic_dataset import serve_chunks; serve_chunks()")


def serve_chunks() -> None:
    """A rendering worker's main: the job (JSON) in argv[1]; the chunks, as raw bytes, on stdout."""
    import json
    import sys

    job = json.loads(sys.argv[1])
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # anything printed goes to stderr, not into the data
    identity, expression, intensity = sample_plan(job["seed"], job["count"], job["identities"], job["split"])
    for start in job["starts"]:
        part = slice(start, start + CHUNK)
        for array in _render_chunk(job["seed"], identity[part], expression[part], intensity[part], job["size"],
                                   job["style"], start):
            channel.write(memoryview(array).cast("B"))
        channel.flush()


def _render_in_processes(job: dict, starts: list[int], workers: int, images: np.ndarray, points: np.ndarray,
                         progress: Steps) -> None:
    import json
    import subprocess
    import sys
    import tempfile

    code = _WORKER_CODE.format(root=str(Path(__file__).resolve().parents[2]))

    def stop(process: subprocess.Popen) -> None:  # done, failed or interrupted: no worker outlives the call
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()

    with contextlib.ExitStack() as stack:
        processes = []
        for worker in range(workers):
            errors = stack.enter_context(tempfile.TemporaryFile())  # not a pipe: a chatty worker never blocks on it
            command = [sys.executable, "-c", code, json.dumps({**job, "starts": starts[worker::workers]})]
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors)
            stack.callback(stop, process)
            processes.append((process, errors))
        for index, start in enumerate(starts):
            process, errors = processes[index % workers]
            part = slice(start, start + CHUNK)
            for array in (images[part], points[part]):
                _read_into(array, process, errors)
            progress.advance(len(images[part]))


def _read_into(array: np.ndarray, process, errors) -> None:
    """Fill ``array`` (C-contiguous) with the next bytes the worker wrote; a worker that died says why."""
    view, filled = memoryview(array).cast("B"), 0
    while filled < len(view):
        got = process.stdout.readinto(view[filled:])
        if not got:
            process.wait()
            errors.seek(0)
            lines = errors.read().decode(errors="replace").strip().splitlines()
            raise RuntimeError(f"a rendering worker stopped (exit {process.returncode}): "
                               f"{lines[-1] if lines else 'no message'}")
        filled += got


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
