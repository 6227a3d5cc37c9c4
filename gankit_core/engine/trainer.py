"""The one trainer every model trains on: devices, precision, data parallel, EMA, schedules, NaN guard,
logging, sample grids, checkpoints, exact resume and a clean stop on Ctrl-C/SIGTERM."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gankit_core.data import Dataset, open_dataset
from gankit_core.data.loader import BatchLoader
from gankit_core.engine import checkpoint as ckpt
from gankit_core.engine import distributed
from gankit_core.engine.helpers import GeneratorEMA
from gankit_core.engine.precision import Precision, choose_device, choose_precision
from gankit_core.engine.schedules import parse_schedule
from gankit_core.errors import CheckpointError, ConfigError, GankitError
from gankit_core.images import save_grid, to_unit
from gankit_core.interfaces import Model, Networks, OptimizerSpec
from gankit_core.losses import gradient_norm_penalty, gradient_square_penalty


@dataclass
class TrainSettings:
    """How to train (as opposed to what: that is the model's config)."""

    steps: int | None = None  # total optimizer steps; None: the model's default_steps, or --epochs
    epochs: int | None = None
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    channels_last: str = "auto"  # "auto": on CUDA, and on CPU where the model says it pays; "on"; "off"
    seed: int = 0
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep: int = 3
    log_every: int = 10
    nan_patience: int = 10  # stop after this many non-finite steps in a row
    num_samples: int = 64
    progress: bool = True
    tensorboard: bool = True
    strict_data: bool = False  # an unreadable image is an error instead of a skipped warning

    def validate(self) -> None:
        if self.channels_last not in ("auto", "on", "off"):
            raise ConfigError(f"channels_last must be auto, on or off, not {self.channels_last!r}")
        for name in ("sample_every", "checkpoint_every", "log_every", "nan_patience", "num_samples"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if self.steps is not None and self.steps < 0:
            raise ConfigError(f"steps must be >= 0, not {self.steps}")
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1, not {self.epochs}")
        if self.keep < 0:
            raise ConfigError(f"keep must be >= 0, not {self.keep}")


@dataclass
class RunResult:
    run_dir: Path | None
    step: int
    checkpoint: Path | None
    metrics: dict[str, float] = field(default_factory=dict)
    skipped_steps: int = 0


class NonFiniteLoss(Exception):
    """A loss was NaN or Inf; the engine skips the rest of the step."""


class TrainingInterrupted(GankitError):
    exit_code = 130


class TrainingDiverged(GankitError):
    pass


class _Step:
    """The StepContext a model's train_step receives (see gankit_core.interfaces.StepContext)."""

    def __init__(self, trainer: Trainer, index: int) -> None:
        self._trainer = trainer
        self.index = index
        self.train_generator = (index + 1) % trainer.model.config.n_critic == 0
        self.generator_updated = False

    def autocast(self) -> contextlib.AbstractContextManager:
        return self._trainer.precision.autocast()

    def optimize(self, name: str, loss: Tensor) -> None:
        trainer = self._trainer
        try:
            optimizer = trainer.optimizers[name]
        except KeyError:
            raise KeyError(f"no optimizer named {name!r}; the model declared {', '.join(trainer.optimizers)}") from None
        if not bool(torch.isfinite(loss.detach()).all()):
            raise NonFiniteLoss(name)
        optimizer.zero_grad(set_to_none=True)
        scaler = trainer.scalers.get(name)
        (scaler.scale(loss) if scaler is not None else loss).backward()
        distributed.average_gradients(trainer.optimizer_params[name], trainer.dist)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        if name in trainer.generator_optimizers:
            self.generator_updated = True

    def _input_gradients(self, discriminator: nn.Module, points: Tensor, args: tuple, optimizer: str) -> Tensor:
        points = points.detach().float().requires_grad_(True)
        if points.dim() == 4 and self._trainer.channels_last:
            points = points.contiguous(memory_format=torch.channels_last)
        # torch.compile cannot double-backward: run the penalty through the eager module.
        eager = getattr(discriminator, "_orig_mod", discriminator)
        with self.autocast():
            scores = eager(points, *args)
        scaler = self._trainer.scalers.get(optimizer)
        # Under fp16 the scores are scaled before autograd so small gradients survive, then unscaled in fp32.
        scale = scaler.get_scale() if scaler is not None else 1.0
        (gradients,) = torch.autograd.grad(scores.float().sum() * scale, points, create_graph=True)
        return gradients.float() / scale

    def gradient_penalty(
        self, discriminator: nn.Module, real: Tensor, fake: Tensor, *args: Any, optimizer: str = "discriminator"
    ) -> Tensor:
        mix = self.rand(real.shape[0], *([1] * (real.dim() - 1)))
        points = torch.lerp(fake.detach().float(), real.detach().float(), mix)
        return gradient_norm_penalty(self._input_gradients(discriminator, points, args, optimizer))

    def r1_penalty(self, discriminator: nn.Module, real: Tensor, *args: Any, optimizer: str = "discriminator") -> Tensor:
        return gradient_square_penalty(self._input_gradients(discriminator, real, args, optimizer))

    def _draw(self, sampler, shape: tuple[int, ...]) -> Tensor:
        trainer = self._trainer
        world, rank = trainer.dist.world_size, trainer.dist.rank
        full = sampler((shape[0] * world, *shape[1:]), generator=trainer.noise, device=trainer.device)
        return full[rank * shape[0] : (rank + 1) * shape[0]]

    def randn(self, *shape: int) -> Tensor:
        return self._draw(torch.randn, shape)

    def rand(self, *shape: int) -> Tensor:
        return self._draw(torch.rand, shape)


def _match_param_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give restored moment buffers their parameter's strides: checkpoints store them contiguous, and a
    fused optimizer walks a parameter and its moments as flat memory, so a channels-last parameter
    with contiguous moments would be updated with the wrong moments."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            for key, value in state.items():
                if isinstance(value, Tensor) and value.shape == param.shape and value.stride() != param.stride():
                    state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def _versions() -> dict[str, str]:
    from gankit_core.plugins import get_plugins

    return {info.ref.distribution: info.ref.version for info in get_plugins().plugins if info.ok}


class Trainer:
    """Trains a model; ``fit()`` runs to the step count, resuming from ``resume_from`` when given."""

    def __init__(
        self,
        model: Model,
        settings: TrainSettings | None = None,
        *,
        dataset: Dataset | None = None,
        run_dir: str | Path | None = None,
        resume_from: str | Path | None = None,
        write: bool = True,
    ) -> None:
        self.model = model
        self.settings = settings or TrainSettings()
        self.settings.validate()
        self.dataset = dataset
        self.requested_run_dir = Path(run_dir) if run_dir is not None else None
        self.resume_from = Path(resume_from) if resume_from is not None else None
        self.write = write
        self.step = 0
        self.run_dir: Path | None = None
        self._ready = False
        self._stop_signal: int | None = None

    # ----------------------------------------------------------------- set-up
    def setup(self) -> None:
        if self._ready:
            return
        settings, config = self.settings, self.model.config
        self.device = choose_device(settings.device, distributed.local_rank_hint())
        self.dist = distributed.init_distributed(self.device.type)
        self.precision = Precision(choose_precision(settings.precision, self.device), self.device)
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True  # TF32 on Ampere+: fp32 matmuls at tensor-core speed
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True
        torch.manual_seed(settings.seed)
        modules = self.model.build()
        if self.model.sample_network not in modules:
            raise TypeError(f"model '{self.model.name}' built no network named '{self.model.sample_network}'")
        if settings.channels_last == "auto":
            # NHWC feeds tensor cores on GPUs; on CPUs it pays for activation-heavy convs (DCGAN) but not for
            # weight-heavy nets on tiny maps (CREGAN's critic), so the model says which it is.
            self.channels_last = self.device.type == "cuda" or self.model.channels_last_on_cpu
        else:
            self.channels_last = settings.channels_last == "on"
        for name, module in modules.items():
            if self.dist.enabled and self.device.type == "cuda":
                module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
            module.to(self.device)
            if self.channels_last:
                module.to(memory_format=torch.channels_last)
            distributed.broadcast_module(module, self.dist)
            modules[name] = module
        self.modules = modules
        self.ema = (
            GeneratorEMA(modules[self.model.sample_network], config.ema_decay) if config.ema_decay > 0 else None
        )
        self.nets = Networks(
            {name: (torch.compile(m) if settings.compile and any(True for _ in m.parameters()) else m)
             for name, m in modules.items()}
        )
        specs = self.model.optimizers(Networks(modules))
        self.optimizers = {name: self._make_optimizer(spec) for name, spec in specs.items()}
        self.optimizer_params = {name: [p for g in o.param_groups for p in g["params"]] for name, o in self.optimizers.items()}
        self.base_lrs = {name: spec.lr for name, spec in specs.items()}
        generator_params = {id(p) for p in modules[self.model.sample_network].parameters()}
        self.generator_optimizers = {
            name for name, params in self.optimizer_params.items() if any(id(p) in generator_params for p in params)
        }
        self.scalers = (
            {name: torch.amp.GradScaler(self.device.type) for name in specs} if self.precision.needs_loss_scaling else {}
        )
        self.schedule = parse_schedule(config.lr_schedule)
        if self.dataset is None:
            self.dataset = open_dataset(config.data, config.image_size, seed=settings.seed, strict=settings.strict_data)
        self.dataset.require(self.model.batch_fields, self.model.name)
        self.loader = BatchLoader(self.dataset, config.batch_size, settings.seed, self.dist.rank, self.dist.world_size)
        self.noise = torch.Generator(device=self.device).manual_seed(settings.seed + 1)
        if settings.steps is not None:
            self.total_steps = settings.steps
        elif settings.epochs is not None:
            self.total_steps = settings.epochs * self.loader.batches_per_epoch
        else:
            self.total_steps = getattr(self.model, "default_steps", 1000)
        self._ready = True

    def _make_optimizer(self, spec: OptimizerSpec) -> torch.optim.Optimizer:
        params = [p for p in spec.params if p.requires_grad]
        options: dict[str, Any] = {"lr": spec.lr, "betas": tuple(spec.betas), "weight_decay": spec.weight_decay}
        try:  # fused Adam: one kernel for the whole update (CUDA, and CPU since torch 2.4)
            return torch.optim.Adam(params, fused=True, **options)
        except (RuntimeError, TypeError):
            return torch.optim.Adam(params, foreach=True, **options)

    def prepare_batch(self, raw: dict[str, Tensor]) -> dict[str, Tensor]:
        """Move a uint8 batch to the device and normalise its images to [-1, 1] there."""
        batch = {}
        for key, value in raw.items():
            value = value.to(self.device, non_blocking=True)
            if value.dtype == torch.uint8 and value.dim() == 4:
                value = to_unit(value)
                if self.channels_last:
                    value = value.contiguous(memory_format=torch.channels_last)
            batch[key] = value
        return batch

    # ------------------------------------------------------------------ steps
    def train_on(self, batch: dict[str, Tensor]) -> dict[str, Tensor | float]:
        """One training step on a prepared batch (the learning rate follows the schedule)."""
        factor = self.schedule(self.step, max(1, self.total_steps))
        for name, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"] = self.base_lrs[name] * factor
        for module in self.modules.values():
            module.train()
        context = _Step(self, self.step)
        scalars = self.model.train_step(self.nets, batch, context)
        if self.ema is not None and context.generator_updated:
            self.ema.update(self.modules[self.model.sample_network])
        return scalars

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """Turn the first Ctrl-C/SIGTERM into a request to stop after this step; a second one aborts."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def request_stop(signum, frame):
            self._stop_signal = signum
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        for sig in previous:
            signal.signal(sig, request_stop)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def fit(self, steps: int | None = None) -> RunResult:
        self.setup()
        if steps is not None:
            self.total_steps = steps
        if self.resume_from is not None:
            self.restore(ckpt.read(self.resume_from))
        main = self.dist.is_main and self.write
        if main:
            self._open_run_dir()
        sample_inputs = self._fixed_sample_inputs()
        settings = self.settings
        skipped = in_a_row = 0
        last_checkpoint: Path | None = None
        last_values: dict[str, float] = {}
        epoch_sums: dict[str, Tensor] = {}
        epoch_steps = 0
        interval_start, interval_steps = time.perf_counter(), 0
        started = time.perf_counter()
        writer = self._tensorboard() if main else None
        progress = self._progress(main)
        try:
            with self._signals(), progress:
                task = progress.add_task(self.model.name, total=self.total_steps, completed=self.step, info="")
                while self.step < self.total_steps:
                    if distributed.all_ranks_true(self._stop_signal is not None, self.dist, self.device):
                        break
                    batch = self.prepare_batch(self.loader.next())
                    try:
                        scalars = self.train_on(batch)
                        in_a_row = 0
                    except NonFiniteLoss as error:
                        skipped += 1
                        in_a_row += 1
                        if in_a_row >= settings.nan_patience:
                            where = f"; the last good checkpoint is {last_checkpoint}" if last_checkpoint else ""
                            raise TrainingDiverged(
                                f"training diverged: the '{error}' loss was NaN/Inf in {in_a_row} steps in a row "
                                f"(step {self.step + 1}){where}"
                            ) from None
                        scalars = {}
                    self.step += 1
                    interval_steps += 1
                    epoch_steps += 1
                    for key, value in scalars.items():
                        value = value.detach().float() if isinstance(value, Tensor) else torch.tensor(float(value))
                        epoch_sums[key] = epoch_sums.get(key, 0) + value
                    if self.step % settings.log_every == 0 or self.step == self.total_steps:
                        elapsed = time.perf_counter() - interval_start
                        images_per_s = interval_steps * self.model.config.batch_size / max(elapsed, 1e-9)
                        last_values = {k: float(v) for k, v in scalars.items()}
                        row = {"step": self.step, "time": round(time.perf_counter() - started, 3),
                               "images_per_s": round(images_per_s, 2), "lr": self._current_lr(), **last_values}
                        if skipped:
                            row["skipped_steps"] = skipped
                        if main:
                            self._log(row, writer)
                        interval_start, interval_steps = time.perf_counter(), 0
                        info = "  ".join(f"{k} {v:.3f}" for k, v in last_values.items() if k.startswith("loss"))
                        progress.update(task, info=f"{images_per_s:.0f} img/s  {info}")
                    progress.update(task, completed=self.step)
                    if self.loader.epoch_finished and getattr(self.model, "log_epochs", False):
                        if main:
                            means = {k: float(v / epoch_steps) for k, v in epoch_sums.items()}
                            self._log({"event": "epoch", "epoch": self.loader.epoch + 1, "step": self.step, **means}, None)
                            self._write_samples(sample_inputs, f"epoch-{self.loader.epoch + 1:03d}")
                        epoch_sums, epoch_steps = {}, 0
                    if main and self.step % settings.sample_every == 0:
                        self._write_samples(sample_inputs, f"step-{self.step:06d}")
                    # No checkpoint during a run of non-finite steps: the last good one must survive.
                    if self.step % settings.checkpoint_every == 0 and in_a_row == 0:
                        last_checkpoint = self.save_checkpoint() or last_checkpoint
        finally:
            if writer is not None:
                writer.close()
        if main and self._latest_checkpoint_step() != self.step:
            last_checkpoint = self.save_checkpoint()
        elif main:
            last_checkpoint = ckpt.resolve_latest(self.run_dir)
        if main:
            if not (self.run_dir / "samples" / f"step-{self.step:06d}.png").exists():
                self._write_samples(sample_inputs, f"step-{self.step:06d}")
            self.write_report()
        if self._stop_signal is not None:
            name = "Ctrl-C" if self._stop_signal == signal.SIGINT else "SIGTERM"
            where = f"; resume with: gankit resume {self.run_dir}" if self.run_dir else ""
            raise TrainingInterrupted(f"stopped by {name} at step {self.step}, checkpoint saved{where}")
        return RunResult(self.run_dir, self.step, last_checkpoint, last_values, skipped)

    def _current_lr(self) -> float:
        first = next(iter(self.optimizers.values()))
        return float(first.param_groups[0]["lr"])

    # --------------------------------------------------------------- outputs
    def _open_run_dir(self) -> None:
        from gankit_core.config import to_toml_value

        if self.requested_run_dir is not None:
            run_dir = self.requested_run_dir
        else:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            run_dir = Path("runs") / f"{self.model.name}-{stamp}"
        try:
            (run_dir / "samples").mkdir(parents=True, exist_ok=True)
            (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"cannot create run directory {run_dir}: {error.strerror}") from None
        if self.resume_from is None and any((run_dir / "checkpoints").glob("*.safetensors")):
            raise ConfigError(f"{run_dir} already holds a run; continue it with 'gankit resume {run_dir}' "
                              "or choose another --out")
        self.run_dir = run_dir
        self._trim_metrics()
        if self.resume_from is None or not (run_dir / "config.toml").exists():
            import tomli_w

            document = {
                "model": self.model.name,
                "config": to_toml_value(dataclasses.asdict(self.model.config)),
                "train": to_toml_value({**dataclasses.asdict(self.settings), "steps": self.total_steps}),
                "versions": _versions(),
            }
            ckpt.write_atomic(run_dir / "config.toml", tomli_w.dumps(document).encode())

    def _trim_metrics(self) -> None:
        """Keep only the metric rows up to the step training starts from: none for a fresh run, and none
        logged after the checkpoint a resumed run continues from (a run killed between checkpoints)."""
        from gankit_core.engine.report import read_metrics

        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return
        kept = [row for row in read_metrics(path) if self.resume_from is not None and row.get("step", 0) <= self.step]
        ckpt.write_atomic(path, "".join(json.dumps(row) + "\n" for row in kept).encode())

    def _log(self, row: dict[str, Any], writer) -> None:
        with (self.run_dir / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        if writer is not None:
            for key, value in row.items():
                if key not in ("step", "time") and isinstance(value, (int, float)) and math.isfinite(value):
                    writer.add_scalar(key, value, row["step"])

    def _tensorboard(self):
        if not self.settings.tensorboard:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # optional: only when the tensorboard package is installed
            return None
        return SummaryWriter(str(self.run_dir / "tensorboard"))

    def _progress(self, show: bool):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        return Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            disable=not (show and self.settings.progress),
            transient=False,
        )

    def _fixed_sample_inputs(self) -> dict[str, Tensor]:
        count = min(self.settings.num_samples, len(self.dataset))
        generator = torch.Generator().manual_seed(self.settings.seed + 2)
        batch = self.prepare_batch(self.dataset.take(torch.arange(count)))
        inputs = self.model.sample_inputs(count, batch, generator)
        return {key: value.to(self.device) for key, value in inputs.items()}

    @torch.no_grad()
    def generate(self, inputs: dict[str, Tensor]) -> Tensor:
        """Samples from the EMA generator when there is one; networks in eval mode, state untouched."""
        nets = Networks(self.modules)
        if self.ema is not None:
            nets[self.model.sample_network] = self.ema.module
        modes = {name: module.training for name, module in nets.items()}
        for module in nets.values():
            module.eval()
        try:
            with self.precision.autocast():
                return self.model.sample(nets, inputs).float()
        finally:
            for name, module in nets.items():
                module.train(modes[name])

    def _write_samples(self, inputs: dict[str, Tensor], stem: str) -> None:
        columns = getattr(self.model, "sample_columns", None)
        save_grid(self.generate(inputs), self.run_dir / "samples" / f"{stem}.png", columns)

    def write_report(self) -> Path:
        from gankit_core.engine.report import write_report

        summary = {
            "model": self.model.name,
            "steps": str(self.step),
            "device": str(self.device),
            "precision": self.precision.mode,
            "batch size": str(self.model.config.batch_size),
            "image size": str(self.model.config.image_size),
            "data": self.dataset.name if self.dataset is not None else self.model.config.data,
        }
        return write_report(self.run_dir, f"gankit run: {self.model.name}", summary)

    # ------------------------------------------------------------ checkpoints
    def _latest_checkpoint_step(self) -> int | None:
        try:
            return int(ckpt.resolve_latest(self.run_dir).stem.split("-")[1])
        except (CheckpointError, IndexError, ValueError):
            return None

    def checkpoint_bytes(self) -> bytes:
        modules: dict[str, nn.Module] = {f"net/{name}": m for name, m in self.modules.items()}
        if self.ema is not None:
            modules[f"ema/{self.model.sample_network}"] = self.ema.module
        rng = {"cpu": torch.get_rng_state(), "noise": self.noise.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        meta = {
            "config": dataclasses.asdict(self.model.config),
            "settings": dataclasses.asdict(self.settings),
            "versions": _versions(),
            "data": self.loader.state(),
            "scalers": {name: s.state_dict() for name, s in self.scalers.items()},
            "precision": self.precision.mode,
            "rng_tensors": rng,
        }
        return ckpt.pack(model=self.model.name, step=self.step, modules=modules, optimizers=self.optimizers, meta=meta)

    def save_checkpoint(self) -> Path | None:
        """Write this step's checkpoint (rank 0 only) and point ``latest`` at it."""
        if not (self.dist.is_main and self.write and self.run_dir is not None):
            return None
        return ckpt.save(self.run_dir / "checkpoints", self.step, self.checkpoint_bytes(), self.settings.keep)

    def restore(self, checkpoint: ckpt.Checkpoint) -> None:
        """Continue exactly where ``checkpoint`` stopped: weights, optimizers, scalers, RNG, data order."""
        self.setup()
        where = checkpoint.path
        if checkpoint.model != self.model.name:
            raise CheckpointError(f"{where}: checkpoint is from model '{checkpoint.model}', not '{self.model.name}'")
        saved = checkpoint.meta("config", {})
        current = json.loads(json.dumps(dataclasses.asdict(self.model.config)))
        differing = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
        if differing:
            details = ", ".join(f"{k} {saved.get(k)!r} vs {current.get(k)!r}" for k in differing[:4])
            raise CheckpointError(f"{where}: incompatible config ({details})")
        for name, module in self.modules.items():
            checkpoint.load_module(name, module)
        if self.ema is not None:
            checkpoint.load_module(self.model.sample_network, self.ema.module, prefix="ema")
        for name, optimizer in self.optimizers.items():
            try:
                optimizer.load_state_dict(checkpoint.optimizer_state(name))
            except (KeyError, ValueError) as error:
                raise CheckpointError(f"{where}: optimizer '{name}' state does not match ({error})") from None
            _match_param_layout(optimizer)
        for name, state in checkpoint.meta("scalers", {}).items():
            if name in self.scalers:
                self.scalers[name].load_state_dict(state)
        torch.set_rng_state(checkpoint.rng("cpu"))
        self.noise.set_state(checkpoint.rng("noise").to(self.noise.get_state().device))
        if self.device.type == "cuda" and checkpoint.rng("cuda") is not None:
            torch.cuda.set_rng_state(checkpoint.rng("cuda"), self.device)
        self.loader.load_state(checkpoint.meta("data"))
        self.step = checkpoint.step
