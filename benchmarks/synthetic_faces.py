"""How fast the built-in synthetic faces render, and how fast a cached set loads.
Usage: python benchmarks/synthetic_faces.py [--n 1024] [--size 64]"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ["GANKIT_CACHE"] = tempfile.mkdtemp(prefix="gankit-bench-")
    from gankit_core.data import open_dataset
    from gankit_core.data.synthetic import face_params, render

    params = face_params(0, np.arange(args.n), np.arange(args.n) % 7, np.ones(args.n))
    for style in ("photo", "cartoon"):
        start = time.perf_counter()
        for begin in range(0, args.n, 256):
            sl = slice(begin, begin + 256)
            chunk = type(params)(params.identity[sl], params.expression[sl], params.intensity[sl],
                                 {k: v[sl] for k, v in params.values.items()})
            render(chunk, args.size, style)
        elapsed = time.perf_counter() - start
        print(f"render {style:<8} {args.size}px: {args.n / elapsed:8.0f} faces/s on one core")
    spec = f"synthetic-faces:n={args.n}"
    start = time.perf_counter()
    open_dataset(spec, args.size)
    first = time.perf_counter() - start
    start = time.perf_counter()
    dataset = open_dataset(spec, args.size)
    cached = time.perf_counter() - start
    print(f"dataset {spec} at {args.size}px: first open {first:.2f} s (render + landmarks + cache), "
          f"cached open {cached * 1000:.0f} ms ({len(dataset) / cached:,.0f} faces/s)")


if __name__ == "__main__":
    main()
