"""Channels-last against NCHW on this machine, in one process: a model's plain reference step and gankit's step in
each memory format, timed in alternating rounds (so a change in the machine's load touches every row alike), and
with --parts the CycleGAN generator and PatchGAN forward and backward alone and one instance norm and one reflection
pad in either format. Each figure is printed as it is measured.
Usage: python benchmarks/layouts.py cyclegan [--image-size 256] [--batch-size 1] [--precision fp32] [--rounds 3]
[--parts]"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
from compare import REFERENCES  # noqa: E402
from torch import nn  # noqa: E402

from gankit_core import api  # noqa: E402
from gankit_core.data import open_dataset  # noqa: E402
from gankit_core.engine.trainer import Trainer  # noqa: E402

FORMATS = {"NCHW": torch.contiguous_format, "channels-last": torch.channels_last}


def median_ms(run, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def engine_step(name: str, overrides: dict, engine: dict, size: int, batch: int, precision: str, layout: str):
    """gankit's training step (one n_critic cycle) on one fixed batch, the networks in ``layout`` ("on"/"off")."""
    model = api.create_model(name, **overrides, batch_size=batch, image_size=size)
    trainer = Trainer(model, api.train_settings({"device": "cpu", "precision": precision, "progress": False,
                                                 "channels_last": layout, **engine}),
                      dataset=open_dataset(f"{model.config.data}:n={max(16, batch)}", size), write=False)
    batch_tensors = trainer.prepare_batch(trainer.loader.next())
    trainer.loader.close()

    def step() -> None:
        for _ in range(model.config.n_critic):
            trainer.train_on(batch_tensors)
            trainer.step += 1

    return step


def race(steps: dict, rounds: int) -> None:
    """Each step once per round, round after round; the first round warms up; medians and ratios at the end."""
    times: dict[str, list[float]] = {label: [] for label in steps}
    for index in range(rounds + 1):
        for label, step in steps.items():
            start = time.perf_counter()
            step()
            elapsed = (time.perf_counter() - start) * 1000
            print(f"  round {index}{' (warm-up)' if index == 0 else ''}: {label} {elapsed:.0f} ms", flush=True)
            if index:
                times[label].append(elapsed)
    reference = statistics.median(times["reference (fp32, eager, NCHW)"])
    for label, values in times.items():
        median = statistics.median(values)
        print(f"{label:<40} {median:>8.0f} ms  {reference / median:.2f}x the reference", flush=True)


def parts(size: int, precision: str) -> None:
    """CycleGAN's networks forward and backward, and single layers, in either memory format."""
    from gankit_core.weights import init_weights

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    torch.manual_seed(0)
    networks = {"resnet generator": api.create_component("generator", "resnet", image_size=size, width=64, n_blocks=9),
                "patchgan": api.create_component("discriminator", "patchgan", width=64, layers=3, image_size=size)}
    for label, network in networks.items():
        network.apply(init_weights).to(dtype)
        for batch in (1, 2):
            for format_name, memory_format in FORMATS.items():
                network.to(memory_format=memory_format)
                x = torch.randn(batch, 3, size, size, dtype=dtype).contiguous(memory_format=memory_format)

                def forward_backward(network=network, x=x) -> None:
                    network.zero_grad(set_to_none=True)
                    network(x).float().mean().backward()

                print(f"{label}, batch {batch}, {format_name}: forward and backward "
                      f"{median_ms(forward_backward, 3):.0f} ms", flush=True)
    features = torch.randn(1, 4 * 64, size // 4, size // 4, dtype=dtype)
    for format_name, memory_format in FORMATS.items():
        x = features.contiguous(memory_format=memory_format).requires_grad_(True)
        for label, layer in (("instance norm", nn.InstanceNorm2d(256)), ("reflection pad 1", nn.ReflectionPad2d(1))):
            ms = median_ms(lambda layer=layer, x=x: layer(x).float().sum().backward(), 7, 2)
            print(f"{label} on 1x256x{size // 4}x{size // 4}, {format_name}: forward and backward {ms:.1f} ms",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", choices=sorted(REFERENCES))
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parts", action="store_true", help="Also time CycleGAN's networks and layers alone.")
    args = parser.parse_args()
    module_name, overrides, engine = REFERENCES[args.model]
    print(f"{args.model}: batch {args.batch_size}, {args.image_size}px, {args.precision}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}", flush=True)
    if args.parts:
        parts(args.image_size, args.precision)
    reference = importlib.import_module(module_name).make_reference_step(args.batch_size, args.image_size)
    steps = {"reference (fp32, eager, NCHW)": reference}
    for layout, label in (("on", "channels-last"), ("off", "NCHW")):
        steps[f"gankit {args.precision}, {label}"] = engine_step(args.model, overrides, engine, args.image_size,
                                                                 args.batch_size, args.precision, layout)
    race(steps, args.rounds)


if __name__ == "__main__":
    main()
