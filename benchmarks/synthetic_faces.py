"""How fast the built-in synthetic faces render, on one core and on all of them, and how fast a cached set opens.
Usage: python benchmarks/synthetic_faces.py [--n 1024] [--size 64] [--spec SPEC] [--version-1]

--spec times the first open of a dataset spec (rendered in processes on every core, then cached) and the second
(from the cache), e.g. ``--spec synthetic-unpaired`` for the two 4096-face domains a translation run opens.
--version-1 also times the renderer as it was before its shapes were drawn in windows (tests/synthetic_render_v1.py,
the oracle the tests hold the renderer to)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def faces_per_second(render, params, size: int, style: str) -> float:
    """One process, in chunks of 256 faces as a set is rendered."""
    start = time.perf_counter()
    for begin in range(0, len(params), 256):
        part = slice(begin, begin + 256)
        chunk = type(params)(params.identity[part], params.expression[part], params.intensity[part],
                             {k: v[part] for k, v in params.values.items()})
        render(chunk, size, style)
    return len(params) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--spec", help="Also time opening this dataset spec (default synthetic-faces:n=N).")
    parser.add_argument("--version-1", action="store_true", help="Also time the version-1 renderer.")
    args = parser.parse_args()
    os.environ["GANKIT_CACHE"] = tempfile.mkdtemp(prefix="gankit-bench-")
    from gankit_core.data import open_dataset
    from gankit_core.data.synthetic import face_params, render
    from gankit_core.data.synthetic_dataset import render_workers

    renderers = {"renderer": render}
    if args.version_1:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from synthetic_render_v1 import render as render_v1

        renderers = {"version-1 renderer": render_v1, **renderers}
    params = face_params(0, np.arange(args.n), np.arange(args.n) % 7, np.ones(args.n))
    for name, renderer in renderers.items():
        for style in ("photo", "cartoon"):
            rate = faces_per_second(renderer, params, args.size, style)
            print(f"{name:<19} {style:<8} {args.size}px: {rate:8.1f} faces/s in one process")
    spec = args.spec or f"synthetic-faces:n={args.n}"
    start = time.perf_counter()
    dataset = open_dataset(spec, args.size)
    first = time.perf_counter() - start
    faces = len(dataset) * (2 if "image_b" in dataset.fields else 1)
    start = time.perf_counter()
    open_dataset(spec, args.size)
    cached = time.perf_counter() - start
    workers = render_workers(len(dataset), args.size)
    print(f"dataset {spec} at {args.size}px: first open {first:.1f} s for {faces} faces ({faces / first:.1f} faces/s: "
          f"render in {workers} process{'es' if workers > 1 else ''}, landmarks, cache write), "
          f"cached open {cached * 1000:.0f} ms")


if __name__ == "__main__":
    main()
