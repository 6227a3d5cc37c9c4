"""Speed of FID/KID's Inception feature pass (299 px, batch 64) on this machine.
Usage: python benchmarks/inception_features.py [--n 256] [--device cpu]"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    from gankit_core.metrics.inception import InceptionFeatures

    start = time.perf_counter()
    extractor = InceptionFeatures(device=args.device)
    loaded = time.perf_counter() - start
    images = torch.randint(0, 256, (args.n, 3, 64, 64), dtype=torch.uint8)
    extractor(images[:8])  # warm-up
    start = time.perf_counter()
    features = extractor(images)
    elapsed = time.perf_counter() - start
    print(f"Inception load {loaded:.1f} s; {args.n} images of 64 px -> {tuple(features.shape)} features in "
          f"{elapsed:.1f} s: {args.n / elapsed:.1f} images/s on {args.device} ({torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
