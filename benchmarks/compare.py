"""Time a plain reference training step (in a process of its own, with the C library's defaults) and gankit's
step for the same model, in alternating rounds (a reference cycle, then one of each gankit step; --steps rounds
after --warmup untimed ones), and print the ratios of the medians (with each round's ratio), and each gankit step's
GFLOP/s as a share of the machine's convolution peak at its precision (gankit_core.engine.peak: measured once,
cached per machine). --profile N then prints the N operators where gankit's step at the first precision spends its
time (torch.profiler, one n_critic cycle after two untimed ones, self CPU time).
Usage: python benchmarks/compare.py dcgan|cregan|ugatit|cyclegan|expression [--batch-size 128] [--image-size 64]
[--steps 5] [--warmup 2] [--precisions auto,fp32] [--channels-last auto|on|off] [--profile 15] [--json OUT]"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from gankit_core import api  # noqa: E402
from gankit_core.engine.bench import StepBench  # noqa: E402
from gankit_core.engine.precision import PRECISIONS  # noqa: E402
from gankit_core.errors import GankitError  # noqa: E402

# model -> (reference module, model config overrides that match the reference networks, engine settings)
REFERENCES = {
    "dcgan": ("reference_dcgan", {}, {}),
    "cregan": ("reference_cregan", {}, {}),
    # paper 003's transfer module (U-Net + PatchGAN, the fusion module frozen): the stage the speed goal names, as
    # the paper (and the reference) has it: no warp of the target (and so no per-batch landmark reading), unblurred
    # landmark lines, a U-Net that draws the face, no flips. The model's defaults add those (gankit bench times them).
    "expression": ("reference_expression", {"warp_input": False, "landmark_blur": 0.0, "residual": False,
                                            "identity_start": False, "flip": False}, {"stage": "transfer"}),
    "ugatit": ("reference_ugatit", {}, {}),
    "cyclegan": ("reference_cyclegan", {}, {}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", choices=sorted(REFERENCES))
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--precisions", default="auto,fp32")
    parser.add_argument("--channels-last", choices=("auto", "on", "off"), default="auto",
                        help="The engine's memory format (auto: the model's choice on this device).")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="Print the N operators taking most of gankit's step at the first precision.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    args = parser.parse_args()
    try:
        compare(args)
    except KeyboardInterrupt:  # the reference's process ignores Ctrl-C and ends with this one (daemon)
        sys.exit("interrupted: nothing was written")


def compare(args: argparse.Namespace) -> None:
    module_name, overrides, engine_settings = REFERENCES[args.model]
    engine_settings = {**engine_settings, "channels_last": args.channels_last}
    precisions = args.precisions.split(",")
    # Every bad value is one line before anything runs, as in the gankit commands.
    if args.steps < 1 or args.warmup < 0:
        sys.exit(f"error: --steps must be 1 or more and --warmup 0 or more, not {args.steps} and {args.warmup}")
    if args.json and not args.json.parent.is_dir():
        sys.exit(f"error: --json {args.json}: no folder {args.json.parent} to write it in")
    unknown = [precision for precision in precisions if precision not in PRECISIONS]
    if unknown:
        sys.exit(f"error: --precisions: unknown precision {unknown[0]!r}; use {', '.join(PRECISIONS)}")
    if "fp16" in precisions:
        sys.exit("error: --precisions fp16: this benchmark runs on the CPU, which has no fast fp16 convolutions; "
                 "compare auto, bf16 or fp32")
    try:
        model = api.create_model(args.model, **overrides)
        batch = model.config.batch_size if args.batch_size is None else args.batch_size
        size = model.config.image_size if args.image_size is None else args.image_size
        api.create_model(args.model, **overrides, batch_size=batch, image_size=size)
        api.train_settings({"device": "cpu", **engine_settings})
    except GankitError as error:
        sys.exit(f"error: {error}")
    import torch

    cycle = model.config.n_critic  # time whole cycles, as gankit bench does
    reference = ReferenceProcess(module_name, batch, size, cycle)

    def show(row: dict) -> None:
        extra = (f"  {row['gflops']:.0f} GFLOP/s = {row['share_of_peak']:.0%} of the {row['precision']} peak "
                 f"({row['peak_gflops']:.0f})" if "gflops" in row else "")
        spread = f"  (rounds {row['round_ratios']})" if "round_ratios" in row else ""
        print(f"  {row['step']:<50} {row['ms_per_step']:>9.1f} ms/step  {row['ratio']:.2f}x{extra}{spread}", flush=True)

    print(f"{args.model}: batch {batch}, {size}px, {torch.get_num_threads()} threads, torch {torch.__version__}",
          flush=True)
    benches = []
    for precision in precisions:
        model = api.create_model(args.model, **overrides, batch_size=batch, image_size=size)
        settings = api.train_settings({"device": "cpu", "precision": precision, "progress": False, **engine_settings})
        benches.append(StepBench(model, settings))

    # Rounds: one cycle of the reference, then one of each gankit step, so that a machine that slows down or
    # speeds up during the run (this one's did, by up to 1.6x) touches every row alike.
    for _ in range(args.warmup):
        reference.cycle()
        for bench in benches:
            bench.cycle(timed=False)
    reference_cycles = []
    for index in range(args.steps):
        reference_cycles.append(reference.cycle())
        times = [bench.cycle() for bench in benches]
        print(f"  round {index + 1}: reference {reference_cycles[-1] / cycle:.0f} ms/step, gankit "
              + ", ".join(f"{ms / cycle:.0f}" for ms in times), flush=True)
    reference_ms = statistics.median(reference_cycles) / cycle
    rows = [{"step": "reference (fp32, eager, NCHW)", "ms_per_step": round(reference_ms, 1), "ratio": 1.0}]
    show(rows[0])
    for precision, bench in zip(precisions, benches, strict=True):
        result = bench.result()
        layout = "channels-last" if result.channels_last else "NCHW"
        round_ratios = " ".join(f"{ref / ms:.2f}x" for ref, ms in zip(reference_cycles, bench.cycle_ms, strict=True))
        rows.append({"step": f"gankit --precision {precision} ({result.precision}, {layout})", "ms_per_step": result.ms_per_step,
                     "ratio": round(reference_ms / result.ms_per_step, 2), "gflops": result.gflops,
                     "precision": result.precision, "peak_gflops": result.peak_gflops,
                     "share_of_peak": result.share_of_peak, "data_ms": result.data_ms, "round_ratios": round_ratios})
        show(rows[-1])
    del benches
    reference.close()
    if args.json:
        args.json.write_text(json.dumps({"model": args.model, "batch_size": batch, "image_size": size, "rows": rows},
                                        indent=2))
    if args.profile:
        precision = args.precisions.split(",")[0]
        model = api.create_model(args.model, **overrides, batch_size=batch, image_size=size)
        settings = api.train_settings({"device": "cpu", "precision": precision, "progress": False, **engine_settings})
        print(f"\nwhere gankit's --precision {precision} step spends its time (one n_critic cycle of {cycle}):")
        print(profile_step(model, settings, args.profile))


class ReferenceProcess:
    """The reference step in a fresh process of its own, one n_critic cycle per ``cycle()`` call. Its own process
    because gankit's engine changes process-wide settings when it places a CPU run (``keep_freed_memory``: glibc
    keeps freed memory instead of unmapping it, which saved CREGAN's batch-8 reference itself about a quarter of its
    time), and the reference is to run as public code runs, with the C library's defaults."""

    def __init__(self, module_name: str, batch: int, size: int, cycle: int) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of this process's settings
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve_reference, args=(child, module_name, batch, size, cycle),
                                       daemon=True)
        self.process.start()
        answer = self.connection.recv()
        if answer != "ready":  # the reference cannot take this size or batch: its one line
            self.process.join()
            sys.exit(f"error: {answer}")

    def cycle(self) -> float:
        """One timed cycle of the reference step, in ms."""
        self.connection.send("cycle")
        return self.connection.recv()

    def close(self) -> None:
        self.connection.send("stop")
        self.process.join()


def _serve_reference(connection, module_name: str, batch: int, size: int, cycle: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to report; this process ends with it
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        step = importlib.import_module(module_name).make_reference_step(batch, size)
    except (GankitError, ValueError) as error:
        connection.send(str(error))
        return
    connection.send("ready")
    try:
        while connection.recv() == "cycle":
            start = time.perf_counter()
            for _ in range(cycle):
                step()
            connection.send((time.perf_counter() - start) * 1000)
    except (EOFError, ConnectionError):  # the parent is gone: nothing to report to
        return


# What each operator's self CPU time is spent on, for the grouped profile: the first group whose words appear in
# the operator's name takes it (so "convolution_backward" is a convolution, not a backward's bookkeeping).
OPERATOR_GROUPS = (
    ("convolution (forward, backward, penalty's double backward)", ("convolution", "conv_depthwise", "slow_conv")),
    ("matmul (linear layers)", ("addmm", "::mm", "bmm", "matmul", "linear")),
    ("norms (instance, batch, group, layer; AdaLIN/LIN arithmetic is elementwise)",
     ("batch_norm", "instance_norm", "group_norm", "layer_norm", "var_mean", "::var", "::std")),
    ("copies and casts (memory layout, dtype: autocast's weight casts, .contiguous, cat)",
     ("copy_", "_to_copy", "clone", "contiguous", "::cat", "::stack")),
    ("padding (reflection, replication, constant)", ("pad",)),
    ("resampling (upsample, grid_sample, interpolate)", ("upsample", "grid_sampler", "interpolate")),
    ("optimizer (fused Adam, EMA, foreach)", ("_fused_adam", "_foreach", "adam")),
    ("reductions (sum, mean, max, isfinite)", ("::sum", "::mean", "::max", "::min", "::norm", "isfinite", "::all",
                                                "::any", "linalg")),
    ("elementwise and activations", ("::add", "::sub", "::mul", "::div", "relu", "tanh", "sigmoid", "::where",
                                     "lerp", "pow", "sqrt", "::exp", "::log", "::neg", "::abs", "clamp", "fill_",
                                     "zero_", "addcmul", "addcdiv", "threshold", "softplus", "::rsub", "::sign",
                                     "::ge", "::gt", "::le", "::lt", "::eq", "mse_loss", "l1_loss",
                                     "binary_cross_entropy", "rand", "bernoulli", "::ones", "::zeros", "::full")),
)


def group_of(operator: str) -> str:
    for group, words in OPERATOR_GROUPS:
        if any(word in operator for word in words):
            return group
    return "other operators (allocation, views, autograd's own nodes)"


def grouped_profile(events, step_ms: float) -> str:
    """Self CPU time per group of operators as a share of the step's wall time, and what no operator took (the
    Python of the model and the engine, autograd's scheduling)."""
    totals: dict[str, float] = {}
    pool_ms = sum(event.cpu_time_total for event in events if event.key == "image pool") / 1000
    for event in events:
        if event.key == "image pool":  # its operators are in their groups; its own total is reported below
            continue
        group = group_of(event.key)
        totals[group] = totals.get(group, 0.0) + event.self_cpu_time_total / 1000
    lines = [f"  {'where':<92} {'ms':>9} {'share':>6}"]
    for group, ms in sorted(totals.items(), key=lambda item: -item[1]):
        lines.append(f"  {group:<92} {ms:>9.1f} {ms / step_ms:>6.1%}")
    outside = step_ms - sum(totals.values())
    lines.append(f"  {'outside any operator (Python of the model and engine, autograd scheduling)':<92} "
                 f"{outside:>9.1f} {outside / step_ms:>6.1%}")
    lines.append(f"  {'the step (wall time of the profiled cycle)':<92} {step_ms:>9.1f}")
    if pool_ms:
        lines.append(f"  {'of which the image pool, operators included':<92} {pool_ms:>9.1f} {pool_ms / step_ms:>6.1%}")
    return "\n".join(lines)


def profile_step(model, settings, rows: int) -> str:
    """torch.profiler's table of the ``rows`` operators with the most self CPU time over one n_critic cycle of
    the engine's step, after two untimed cycles, and the same time grouped by what the operators do. Two: the
    second cycle still grows the heap (U-GAT-IT's faults in fresh pages at 256 px, which the profile
    charged to whichever operators touched them first); from the third on a cycle faults in none."""
    from torch.profiler import ProfilerActivity, profile

    from gankit_core.engine.trainer import Trainer

    trainer = Trainer(model, settings, write=False)
    batch = trainer.prepare_batch(trainer.loader.next())
    trainer.loader.close()

    def cycle() -> None:
        for _ in range(model.config.n_critic):
            trainer.train_on(batch)
            trainer.step += 1

    cycle()
    cycle()
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        start = time.perf_counter()
        cycle()
        cycle_ms = (time.perf_counter() - start) * 1000
    events = profiler.key_averages()
    table = events.table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=48)
    return f"{table}\n{grouped_profile(events, cycle_ms)}"


if __name__ == "__main__":
    main()
