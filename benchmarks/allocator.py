"""CycleGAN's generator, forward and backward, as two passes over one image each and as one pass over both (what
gankit's step runs), with the page faults each takes: first under glibc's default malloc, then after the engine's
``keep_freed_memory`` (gankit_core/engine/allocator.py). Alternating rounds, medians after a warm-up round.
Usage: python benchmarks/allocator.py [--image-size 256] [--precision fp32] [--rounds 3]"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

from gankit_core import api
from gankit_core.engine.allocator import keep_freed_memory
from gankit_core.weights import init_weights


def page_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    size = args.image_size
    generator = api.create_component("generator", "resnet", image_size=size, width=64, n_blocks=9).apply(
        init_weights
    )
    images = torch.randn(2, 3, size, size)
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32

    def forward_backward(batch: torch.Tensor) -> None:
        with torch.autocast("cpu", dtype, enabled=args.precision == "bf16"):
            out = generator(batch)
        out.float().mean().backward()

    def two_passes() -> None:
        generator.zero_grad(set_to_none=True)
        forward_backward(images[:1])
        forward_backward(images[1:])

    def one_pass() -> None:
        generator.zero_grad(set_to_none=True)
        forward_backward(images)

    print(
        f"resnet generator, {size} px, {args.precision}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        flush=True,
    )
    for allocator in ("glibc's default malloc", "after keep_freed_memory()"):
        if allocator.startswith("after") and not keep_freed_memory():
            print("keep_freed_memory() does not apply here (not glibc, or MALLOC_* / GLIBC_TUNABLES set)")
            return
        times: dict[str, list[float]] = {"two passes of batch 1": [], "one pass of batch 2": []}
        faults: dict[str, list[int]] = {label: [] for label in times}
        for index in range(args.rounds + 1):
            for label, run in zip(times, (two_passes, one_pass), strict=True):
                before, start = page_faults(), time.perf_counter()
                run()
                if index:  # the first round warms up
                    times[label].append((time.perf_counter() - start) * 1000)
                    faults[label].append(page_faults() - before)
        for label in times:
            print(
                f"  {allocator:<28} {label:<24} {statistics.median(times[label]):7.0f} ms "
                f"{statistics.median(faults[label]):9.0f} page faults",
                flush=True,
            )


if __name__ == "__main__":
    main()
