"""The machine's convolution peak: the best rate, in GFLOP/s, that convolutions shaped like the models' reach on a
device at a precision, so that ``gankit bench`` can say what share of it a training step achieves.

A few seconds of forward and backward passes through a handful of convolutions (no model), the best of a few
repetitions in either memory format; cached per machine under the gankit cache, keyed by what the figure depends
on: the CPU model, torch's version and its thread count, or the GPU's name with torch's and CUDA's versions. A
figure measured while other work ran is too low; ``remeasure=True`` (``gankit bench --remeasure-peak``) replaces it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

PEAK_VERSION = 1  # bump when the shapes or the method change, so cached figures are measured again
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class ConvShape:
    """One convolution a GAN step runs many of, timed forward and backward (input and weight gradients)."""

    label: str
    batch: int
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    padding: int
    size: int  # input height and width
    transposed: bool = False

    def build(self, batch_scale: int) -> tuple[nn.Module, torch.Tensor]:
        layer = nn.ConvTranspose2d if self.transposed else nn.Conv2d
        module = layer(self.in_channels, self.out_channels, self.kernel, self.stride, self.padding, bias=False)
        return module, torch.randn(self.batch * batch_scale, self.in_channels, self.size, self.size)


# The convolutions the models spend their steps in (each 6 to 15 GFLOP forward and backward at batch_scale 1).
SHAPES = (
    ConvShape("3x3 conv 256->256 on 64x64 (ResNet blocks of CycleGAN and U-GAT-IT at 256 px)", 1, 256, 256, 3, 1, 1,
              64),
    ConvShape("3x3 conv 64->64 on 128x128 (U-Net and dilated generators near full size)", 2, 64, 64, 3, 1, 1, 128),
    ConvShape("4x4 stride-2 conv 128->256 on 32x32 (DCGAN and PatchGAN discriminators)", 8, 128, 256, 4, 2, 1, 32),
    ConvShape("4x4 stride-2 transposed conv 256->128 on 16x16 (DCGAN generator)", 8, 256, 128, 4, 2, 1, 16,
              transposed=True),
)


@dataclass(frozen=True)
class Peak:
    """The peak at one precision on one machine: the best shape's rate, and every shape's (in its best format)."""

    machine: str
    precision: str
    gflops: float
    shapes: dict[str, float]
    measured: str  # when, as YYYY-MM-DD HH:MM

    def share(self, gflops: float) -> float:
        """``gflops`` as a fraction of this peak."""
        return gflops / self.gflops


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, the platform's description elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_key(device: torch.device, *, cpu: str | None = None, gpu: str | None = None,
                threads: int | None = None) -> str:
    """What a peak on ``device`` depends on. ``cpu``, ``gpu`` and ``threads`` default to this machine's (tests
    pass their own to check the key without the hardware)."""
    if device.type == "cuda":
        gpu = gpu or torch.cuda.get_device_name(device)
        return f"GPU {gpu}, torch {torch.__version__}, CUDA {torch.version.cuda}"
    threads = threads or torch.get_num_threads()
    return f"CPU {cpu or cpu_name()}, torch {torch.__version__}, {threads} thread{'s' if threads > 1 else ''}"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def conv_flops(shape: ConvShape, batch_scale: int = 1) -> int:
    """Forward and backward FLOPs of ``shape``, by the formulas the step counter uses (run on the meta device:
    shapes only, no arithmetic)."""
    from gankit_core.engine.bench import count_step_flops

    with torch.device("meta"):
        module, inputs = shape.build(batch_scale)
    return count_step_flops(lambda: module(inputs.requires_grad_(True)).sum().backward())


def time_shape(shape: ConvShape, device: torch.device, precision: str, repeats: int, batch_scale: int,
               channels_last: bool) -> float:
    """GFLOP/s of ``shape``'s forward and backward at ``precision`` (tensors in that dtype): the best of ``repeats``
    after one warm-up."""
    module, inputs = shape.build(batch_scale)
    flops = conv_flops(shape, batch_scale)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    dtype = DTYPES[precision]
    module = module.to(device, dtype, memory_format=memory_format)
    inputs = inputs.to(device, dtype).contiguous(memory_format=memory_format).requires_grad_(True)
    with torch.no_grad():
        gradient = torch.randn_like(module(inputs))

    def run() -> None:
        module.weight.grad = inputs.grad = None  # fresh gradients, as a step after zero_grad has them
        module(inputs).backward(gradient)

    run()
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


def measure_peak(device: torch.device, precision: str, shapes: tuple[ConvShape, ...] = SHAPES,
                 machine: str | None = None) -> Peak:
    """Time every shape in both memory formats and keep the best: a few seconds on a 2-core CPU, under one on a
    GPU (where the batches are 64 times larger, so that the GPU is busy, not waiting for launches). ``machine``
    defaults to ``machine_key(device)``."""
    if precision not in DTYPES:
        raise ValueError(f"unknown precision {precision!r}")
    on_gpu = device.type == "cuda"
    previous = (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32)
    if on_gpu:  # as the engine trains: cuDNN autotuned, fp32 convolutions on TF32 tensor cores
        torch.backends.cudnn.benchmark = torch.backends.cudnn.allow_tf32 = True
    try:
        rates = {shape.label: max(time_shape(shape, device, precision, 10 if on_gpu else 3, 64 if on_gpu else 1,
                                             channels_last) for channels_last in (False, True))
                 for shape in shapes}
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32 = previous
    return Peak(machine or machine_key(device), precision, round(max(rates.values()), 1),
                {label: round(rate, 1) for label, rate in rates.items()}, time.strftime("%Y-%m-%d %H:%M"))


def cache_path(machine: str) -> Path:
    from gankit_core.data.synthetic_dataset import cache_dir

    return cache_dir() / f"conv-peak-{hashlib.sha1(f'v{PEAK_VERSION} {machine}'.encode()).hexdigest()[:16]}.json"


def conv_peak(device: torch.device, precision: str, *, remeasure: bool = False) -> Peak:
    """The convolution peak of ``device`` at ``precision``: from the cache, else measured and cached."""
    machine = machine_key(device)
    path = cache_path(machine)
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, or a damaged file: measured again
        document = {}
    if document.get("machine") != machine:
        document = {"machine": machine, "version": PEAK_VERSION, "peaks": {}}
    cached = document["peaks"].get(precision)
    if cached is not None and not remeasure:
        try:
            return Peak(**cached)
        except TypeError:  # written by another layout: measured again
            pass
    peak = measure_peak(device, precision, machine=machine)
    document["peaks"][precision] = asdict(peak)
    from gankit_core.engine.checkpoint import write_atomic

    with contextlib.suppress(OSError):  # a read-only cache: the figure is used, and measured again next time
        write_atomic(path, json.dumps(document, indent=2).encode())
    return peak
