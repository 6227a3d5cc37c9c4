"""``gankit bench``: time a model's training step through the engine, and apart from it the data:
how long the loop waits for each batch while the loader prefetches during the step (``data_ms``)
and what a batch costs to read and normalise with nothing overlapping (``data_fetch_ms``). The step's
GFLOP/s are set against the machine's convolution peak at the step's precision (gankit_core.engine.peak)."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import torch

from gankit_core.engine.layout import to_channels_last
from gankit_core.engine.peak import conv_peak
from gankit_core.engine.trainer import Trainer, TrainSettings
from gankit_core.interfaces import Model


@dataclass
class BenchResult:
    model: str
    device: str
    precision: str
    compile: bool
    channels_last: bool
    batch_size: int
    image_size: int
    steps: int
    ms_per_step: float  # median over n_critic cycles, per step
    images_per_s: float
    data_ms: float  # median wait for the next batch (fetch and normalise) while prefetching overlaps the step
    data_fetch_ms: float  # median time to read and normalise one batch with nothing overlapping
    gflop_per_step: float
    gflops: float  # achieved: FLOPs per step / median step time
    peak_gflops: float | None = None  # the machine's convolution peak at the step's precision
    share_of_peak: float | None = None  # gflops / peak_gflops
    peak_machine: str | None = None  # what the peak was measured on (CPU model, torch, threads; or the GPU)

    def as_dict(self) -> dict:
        return asdict(self)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(run, device: torch.device, steps: int, warmup: int) -> float:
    """Median wall time of ``run()`` in ms after ``warmup`` untimed calls."""
    for _ in range(warmup):
        run()
    _sync(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        run()
        _sync(device)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def count_step_flops(run) -> int:
    """FLOPs of one call of ``run`` (forward and backward), counted with torch.utils.flop_counter's
    per-op formulas. FlopCounterMode itself is not used: its module tracker installs autograd hooks
    that ``autograd.grad`` (the gradient penalty's double backward) refuses."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Counter(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                Counter.total += formula(*args, **kwargs, out_val=out)
            return out

    with Counter():
        run()
    return Counter.total


class StepBench:
    """The engine's training step on the loader's batches, timed one n_critic cycle at a time (with the generator
    trained every k-th step, a median over single steps would report a discriminator-only step), so that a caller
    can interleave its cycles with another step's (``benchmarks/compare.py``: load that changes during a run then
    touches every row alike), then summed up by ``result``."""

    def __init__(self, model: Model, settings: TrainSettings) -> None:
        self.model, self.settings = model, settings
        self.trainer = Trainer(model, settings, write=False)
        self.device = self.trainer.placement.device
        loader, dataset = self.trainer.loader, self.trainer.dataset
        shuffled = torch.Generator().manual_seed(settings.seed + 3)
        self.data_fetch_ms = median_ms(
            lambda: self.trainer.prepare_batch(
                dataset.take(torch.randperm(len(dataset), generator=shuffled)[: loader.local_batch])),
            self.device, 5, 1)
        self.cycle_ms: list[float] = []  # the timed cycles, waits for data taken out
        self.waits: list[float] = []  # the timed cycles' waits for their batches

    def _step(self) -> float:
        """One training step on the next batch, as training takes it (read in the background during the last
        step); returns the wait for the batch, which is kept out of the step time."""
        start = time.perf_counter()
        batch = self.trainer.prepare_batch(self.trainer.loader.next())
        _sync(self.device)
        waited = (time.perf_counter() - start) * 1000
        self.trainer.train_on(batch)
        self.trainer.step += 1  # so n_critic schedules the generator's turns as in training
        return waited

    def cycle(self, timed: bool = True) -> float:
        """Run one n_critic cycle; when ``timed``, keep its time (ms, waits for data excluded) and return it."""
        start = time.perf_counter()
        waits = [self._step() for _ in range(self.model.config.n_critic)]
        _sync(self.device)
        ms = (time.perf_counter() - start) * 1000 - sum(waits)
        if timed:
            self.cycle_ms.append(ms)
            self.waits.extend(waits)
        return ms

    def result(self, peak: bool = True, remeasure_peak: bool = False) -> BenchResult:
        """The timed cycles' median per step, with the step's FLOPs (one more step, on a fixed batch) and, with
        ``peak``, its share of the machine's convolution peak. Closes the loader."""
        trainer, settings = self.trainer, self.settings
        ms = statistics.median(self.cycle_ms) / self.model.config.n_critic
        data_ms = statistics.median(self.waits)
        batch = trainer.prepare_batch(trainer.loader.next())
        trainer.loader.close()

        def fixed_step() -> None:
            trainer.train_on(batch)
            trainer.step += 1

        flops = count_step_flops(fixed_step) if not settings.compile else count_step_flops_eager(trainer, batch)
        placement, config = trainer.placement, self.model.config
        gflops = flops / 1e9 / (ms / 1000)
        conv = conv_peak(placement.device, placement.precision.mode, remeasure=remeasure_peak) if peak else None
        return BenchResult(
            model=self.model.name, device=str(placement.device), precision=placement.precision.mode,
            compile=settings.compile, channels_last=placement.channels_last, batch_size=config.batch_size,
            image_size=config.image_size, steps=len(self.cycle_ms), ms_per_step=round(ms, 3),
            images_per_s=round(config.batch_size / (ms / 1000), 2), data_ms=round(data_ms, 3),
            data_fetch_ms=round(self.data_fetch_ms, 3), gflop_per_step=round(flops / 1e9, 3),
            gflops=round(gflops, 2), peak_gflops=conv.gflops if conv else None,
            share_of_peak=round(conv.share(gflops), 3) if conv else None, peak_machine=conv.machine if conv else None,
        )


def benchmark(model: Model, settings: TrainSettings, steps: int = 10, warmup: int = 3, peak: bool = True,
              remeasure_peak: bool = False) -> BenchResult:
    """Median time of the engine's training step on the loader's batches over ``steps`` n_critic cycles after
    ``warmup`` untimed ones, with the data time measured apart, and (``peak``) its GFLOP/s as a share of the
    machine's convolution peak at the step's precision."""
    bench = StepBench(model, settings)
    for index in range(warmup + steps):
        bench.cycle(timed=index >= warmup)
    return bench.result(peak, remeasure_peak)


def count_step_flops_eager(trainer: Trainer, batch) -> int:
    """FLOPs through the eager modules (the flop counter cannot see inside compiled graphs)."""
    from gankit_core.interfaces import Networks

    compiled = trainer.nets
    trainer.nets = Networks(trainer.modules)
    try:
        return count_step_flops(lambda: trainer.train_on(batch))
    finally:
        trainer.nets = compiled


# ------------------------------------------------------------------------------------------- inference
@dataclass
class InferenceRow:
    runner: str  # how the networks ran
    ms_per_batch: float  # median
    images_per_s: float
    max_difference: float  # largest |output - the plain fp32 loop's output|, images in [-1, 1]


@dataclass
class InferenceResult:
    model: str
    task: str  # what Model.generate is for this model, in the commands' words
    device: str
    batch_size: int
    image_size: int
    threads: int
    rows: list[InferenceRow]
    onnx_missing: str | None = None  # why there is no onnxruntime row

    def as_dict(self) -> dict:
        return asdict(self)


class OnnxNetwork:
    """An exported network run by onnxruntime's CPU provider, called like the torch module it stands in for (torch
    tensors in, a torch tensor out), so that a model's own ``generate`` runs around it unchanged."""

    def __init__(self, path, threads: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # as many as torch uses: the comparison is per machine, not per thread
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [spec.name for spec in self.session.get_inputs()]

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        feeds = {name: tensor.detach().float().contiguous().numpy()
                 for name, tensor in zip(self.input_names, inputs, strict=True)}
        return torch.from_numpy(self.session.run(None, feeds)[0])


def inference_task(model: Model) -> str:
    """What ``generate`` does for ``model``, in the words of the command that runs it."""
    from gankit_core.translation import Translator

    if isinstance(model, Translator):
        return "translate (B to A)"
    return "sample" if not model.sample_needs_data else "generate (what its own command, e.g. swap or transfer, runs)"


def benchmark_inference(model: Model, device: str = "cpu", batch_size: int | None = None, steps: int = 10,
                        warmup: int = 2, onnx: bool = True, seed: int = 0) -> InferenceResult:
    """Images/s of ``model.generate`` at the model's size on fresh networks (speed does not depend on the weights),
    the way gankit's commands run it (a plain ``torch.no_grad()`` loop in fp32), in torch with the engine's fast
    settings (bf16 autocast and channels-last, where the hardware has bf16), and with its inference networks
    exported to ONNX and run by onnxruntime."""
    import contextlib
    import tempfile
    from pathlib import Path

    from gankit_core.api import LoadedModel
    from gankit_core.engine.precision import Precision, choose_device, choose_precision
    from gankit_core.interfaces import Networks

    target = choose_device(device)
    torch.manual_seed(seed)
    modules = {name: module.to(target).eval() for name, module in model.build().items()}
    loaded = LoadedModel(model, Networks(modules), 0, Path("."), target)
    batch = batch_size or model.config.batch_size
    inputs = loaded.inputs(batch, seed)
    batch = next(iter(inputs.values())).shape[0]  # a dataset smaller than the batch gives fewer

    def timed(label: str, nets, context) -> tuple[InferenceRow, torch.Tensor]:
        def run() -> torch.Tensor:
            with context():
                return model.generate(nets, inputs)

        ms = median_ms(run, target, steps, warmup)
        return InferenceRow(label, round(ms, 2), round(batch / (ms / 1000), 2), 0.0), run().float()

    plain, reference = timed("torch.no_grad() loop, fp32 (what gankit's commands run)", loaded.nets, torch.no_grad)
    rows = [plain]
    fast = choose_precision("auto", target)
    if fast != "fp32":
        nhwc = Networks({name: to_channels_last(module) for name, module in modules.items()})
        precision = Precision(fast, target)

        @contextlib.contextmanager
        def fast_context():
            with torch.inference_mode(), precision.autocast():
                yield

        row, output = timed(f"torch.inference_mode, {fast} autocast, channels-last", nhwc, fast_context)
        row.max_difference = round(float((output - reference).abs().max()), 4)
        rows.append(row)
        for module in modules.values():
            module.to(memory_format=torch.contiguous_format)
    missing = None
    if not onnx:
        missing = "not asked for"
    elif target.type != "cpu":
        missing = "onnxruntime's CPU provider is compared on CPUs only"
    else:
        from gankit_core.errors import GankitError
        from gankit_core.export import export_network, require_export_extra

        try:
            require_export_extra()
            with tempfile.TemporaryDirectory(prefix="gankit-bench-") as folder:
                sessions = {}
                for name in model.inference_networks:
                    path = Path(folder) / f"{name}.onnx"
                    export_network(name, modules[name], tuple(model.example_inputs(name)), path, None, True, {})
                    sessions[name] = OnnxNetwork(path, torch.get_num_threads())
                nets = Networks({**modules, **sessions})
                row, output = timed(f"onnxruntime {_onnxruntime_version()}, fp32 (the exported ONNX files)", nets,
                                    torch.no_grad)
                row.max_difference = round(float((output - reference).abs().max()), 4)
                rows.append(row)
        except GankitError as error:
            missing = str(error)
    return InferenceResult(model.name, inference_task(model), str(target), batch, model.config.image_size,
                           torch.get_num_threads(), rows, missing)


def _onnxruntime_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def describe(result: BenchResult | InferenceResult) -> str:
    """``gankit bench``'s report of a result, for a terminal."""
    if isinstance(result, InferenceResult):
        lines = [f"{result.model} {result.task}: batch {result.batch_size}, {result.image_size}px, {result.device}, "
                 f"{result.threads} threads"]
        plain = result.rows[0].images_per_s
        for row in result.rows:
            lines.append(f"  {row.runner:<58} {row.images_per_s:>9.1f} images/s  {row.ms_per_batch:>9.1f} ms/batch"
                         f"  {row.images_per_s / plain:.2f}x  max |diff| {row.max_difference:.4f}")
        if result.onnx_missing:
            lines.append(f"  onnxruntime: not timed ({result.onnx_missing})")
        return "\n".join(lines)
    peak = (f" = {result.share_of_peak:.0%} of this machine's {result.precision} convolution peak "
            f"({result.peak_gflops:.0f} GFLOP/s)" if result.share_of_peak is not None else "")
    return (f"{result.model}: {result.images_per_s:.1f} images/s, {result.ms_per_step:.1f} ms/step (median of "
            f"{result.steps}), {result.gflops:.1f} GFLOP/s achieved{peak} ({result.gflop_per_step:.2f} GFLOP/step); "
            f"data {result.data_ms:.2f} ms/batch waited ({result.data_fetch_ms:.2f} ms to read without prefetch) "
            f"[{result.device}, {result.precision}, batch {result.batch_size}, {result.image_size}px"
            f"{', compiled' if result.compile else ''}{', channels-last' if result.channels_last else ''}]")
