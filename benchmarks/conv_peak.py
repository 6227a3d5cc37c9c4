"""Measure the machine's convolution peak afresh, shape by shape, and replace the cached figure that gankit bench
sets each step against. Usage: python benchmarks/conv_peak.py [--precisions bf16,fp32] [--device cpu]"""

from __future__ import annotations

import argparse

import torch

from gankit_core.engine.peak import conv_flops, conv_peak
from gankit_core.engine.precision import choose_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--precisions", default="bf16,fp32")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = choose_device(args.device)
    for precision in args.precisions.split(","):
        peak = conv_peak(device, precision, remeasure=True)
        print(f"{precision} convolution peak: {peak.gflops:.0f} GFLOP/s on {peak.machine}")
        for shape, rate in peak.shapes.items():
            print(f"  {rate:8.1f} GFLOP/s  {shape}")
    from gankit_core.engine.peak import SHAPES

    print("each shape forward and backward: " + ", ".join(f"{conv_flops(s) / 1e9:.1f}" for s in SHAPES)
          + f" GFLOP at batch scale 1 (torch {torch.__version__})")


if __name__ == "__main__":
    main()
