"""The one trainer every model trains on. The loop in ``fit`` reads as a training iteration; the machinery lives
in small parts beside it: stages.py (stage switching), step.py (the StepContext: backward, loss scaling, gradient
averaging), optim.py (optimizers and their schedules), guards.py (NaN guard, Ctrl-C), run_log.py (metrics and
progress), state.py (checkpoints), run_dir.py (the run directory) and sampler.py (sample grids)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from gankit_core.data import Dataset, open_dataset
from gankit_core.data.loader import BatchLoader
from gankit_core.engine import checkpoint as ckpt
from gankit_core.engine import distributed
from gankit_core.engine.guards import (
    FirstStepFailed,
    NaNGuard,
    StopSignal,
    TrainingDiverged,
    TrainingInterrupted,
    first_step_named,
)
from gankit_core.engine.helpers import GeneratorEMA
from gankit_core.engine.layout import has_instance_norms, to_channels_last
from gankit_core.engine.optim import ScheduledOptimizer
from gankit_core.engine.precision import Precision, choose_device, choose_precision
from gankit_core.engine.run_dir import open_run_dir, remove_unstarted_run, trim_metrics, write_config
from gankit_core.engine.run_log import RunLog, progress_bar
from gankit_core.engine.sampler import SampleWriter
from gankit_core.engine.stages import PlannedStage, StagePlan, enter_stage, set_modes
from gankit_core.engine.state import load_weights, pack_state, restore_state
from gankit_core.engine.step import NonFiniteLoss, TrainingStep
from gankit_core.errors import CheckpointError, ConfigError
from gankit_core.images import to_unit
from gankit_core.interfaces import Model, Networks

__all__ = ["RunResult", "TrainSettings", "Trainer", "TrainingDiverged", "TrainingInterrupted"]


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
    stage: str | None = None  # train this one stage of a multi-stage model alone
    init_from: str | None = None  # start from the network weights of this checkpoint (an earlier stage's run)

    def validate(self) -> None:
        if self.channels_last not in ("auto", "on", "off"):
            raise ConfigError(f"channels_last must be auto, on or off, not {self.channels_last!r}")
        for name in ("sample_every", "checkpoint_every", "log_every", "nan_patience", "num_samples"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"steps must be at least 1, not {self.steps}")
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


class Trainer:
    """Trains a model; ``fit()`` runs to the step count, resuming from ``resume_from`` when given."""

    def __init__(self, model: Model, settings: TrainSettings | None = None, *, dataset: Dataset | None = None,
                 run_dir: str | Path | None = None, resume_from: str | Path | None = None, write: bool = True) -> None:
        self.model = model
        self.settings = settings or TrainSettings()
        self.settings.validate()
        self.dataset = dataset
        self.requested_run_dir = Path(run_dir) if run_dir is not None else None
        self.resume_from = Path(resume_from) if resume_from is not None else None
        self.write = write
        self.step = 0
        self.run_dir: Path | None = None
        self._stage: PlannedStage | None = None  # the stage the networks were last set up for
        self._ready = False

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
        try:
            built = self.model.build()
        except (RuntimeError, ValueError) as error:  # a width of 0 or -8 fails in torch's layer constructors
            raise ConfigError(f"model '{self.model.name}' cannot build its networks with this config: "
                              f"{str(error).splitlines()[0]}") from None
        self.modules = self._place(built)
        missing = [name for name in self.model.inference_networks if name not in self.modules]
        if missing:
            raise TypeError(f"model '{self.model.name}' built no network named {missing}; it built {list(self.modules)}")
        self.emas = ({name: GeneratorEMA(self.modules[name], config.ema_decay) for name in self.model.inference_networks}
                     if config.ema_decay > 0 else {})
        self.nets = Networks({name: (torch.compile(m) if settings.compile and any(True for _ in m.parameters()) else m)
                              for name, m in self.modules.items()})
        specs = self.model.optimizers(Networks(self.modules))
        try:
            self.optimizers = {name: ScheduledOptimizer(spec, config.lr_schedule) for name, spec in specs.items()}
        except ValueError as error:  # torch.optim's own check of a negative rate or decay
            raise ConfigError(f"model '{self.model.name}': {error}") from None
        self.scalers = ({name: torch.amp.GradScaler(self.device.type) for name in specs}
                        if self.precision.needs_loss_scaling else {})
        # The EMA of an inference network follows every step of an optimizer that moves its weights.
        self.ema_followers = {
            name: [net for net in self.emas if {id(p) for p in self.modules[net].parameters()} & {id(p) for p in o.params}]
            for name, o in self.optimizers.items()
        }
        if self.dataset is None:
            self.dataset = open_dataset(config.data, config.image_size, seed=settings.seed, strict=settings.strict_data)
        self.dataset.require(self.model.batch_fields, self.model.name)
        self.loader = BatchLoader(self.dataset, config.batch_size, settings.seed, self.dist.rank, self.dist.world_size)
        self.noise = torch.Generator(device=self.device).manual_seed(settings.seed + 1)
        self.plan = StagePlan(self.model, list(self.modules), list(self.optimizers), self.loader.batches_per_epoch,
                              settings.steps, settings.epochs, settings.stage)
        self.total_steps = self.plan.total
        if settings.init_from is not None and self.resume_from is None:
            self.initialised = load_weights(self, ckpt.read(settings.init_from))
        self._ready = True

    def _place(self, modules: dict[str, nn.Module]) -> dict[str, nn.Module]:
        """Every network on the device, NHWC where it pays, identical on every rank."""
        if self.settings.channels_last == "auto":
            # NHWC feeds tensor cores on GPUs; on CPUs it pays for activation-heavy convs (DCGAN) but not for
            # weight-heavy nets on tiny maps (CREGAN's critic), so the model says which it is. In fp32 on a CPU,
            # networks with instance norms stay NCHW: torch's instance norm hands NCHW back, so each norm costs
            # layout copies both ways, and oneDNN's fp32 NCHW convolutions are as fast (docs/speed.md: CycleGAN's
            # fp32 step went from 0.89x to 1.06x the reference's).
            flips = self.precision.mode == "fp32" and any(has_instance_norms(m) for m in modules.values())
            self.channels_last = self.device.type == "cuda" or (self.model.channels_last_on_cpu and not flips)
        else:
            self.channels_last = self.settings.channels_last == "on"
        for name, module in modules.items():
            if self.dist.enabled and self.device.type == "cuda":
                module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
            module.to(self.device)
            if self.channels_last:
                to_channels_last(module)
            distributed.broadcast_module(module, self.dist)
            modules[name] = module
        return modules

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
        """One training step on a prepared batch, in the stage the step belongs to."""
        stage = self.plan.at(self.step)
        if stage is not self._stage:
            enter_stage(stage, self.modules)
            self._stage = stage
        set_modes(stage, self.modules)
        for name in stage.optimizers:
            self.optimizers[name].set_rate(self.step - stage.start, stage.length)
        context = TrainingStep(self, self.step, stage)
        scalars = self.model.train_step(self.nets, batch, context)
        for network in {net for name in context.stepped for net in self.ema_followers[name]}:
            self.emas[network].update(self.modules[network])
        return scalars

    def fit(self, steps: int | None = None) -> RunResult:
        self.setup()
        if steps is not None:
            self.total_steps = steps
        if self.resume_from is not None:
            restore_state(self, ckpt.read(self.resume_from))
            if self.total_steps < self.step:
                raise ConfigError(f"the run is already at step {self.step} ({self.resume_from}); the step count is "
                                  f"the total to train to, so give more than {self.step}, not {self.total_steps}")
        writes = self.dist.is_main and self.write
        if writes:
            self.run_dir = open_run_dir(self.requested_run_dir, self.model.name, self.resume_from is not None)
            trim_metrics(self.run_dir, self.step if self.resume_from is not None else None)
            if self.resume_from is None or not (self.run_dir / "config.toml").exists():
                write_config(self.run_dir, self.model, self.settings, self.total_steps)
        log = RunLog(self.run_dir, self.settings.log_every, self.model.config.batch_size, self.settings.tensorboard)
        samples = SampleWriter(self, self.run_dir)
        guard, stop = NaNGuard(self.settings.nan_patience), StopSignal()
        progress = progress_bar(writes and self.settings.progress)
        stage = self.plan.at(self.step) if self.step < self.total_steps else None
        first_step = self.step
        try:
            with stop.installed(), progress:
                task = progress.add_task(self._title(stage), total=self.total_steps, completed=self.step, info="")
                while self.step < self.total_steps:
                    if distributed.any_rank_true(stop.received is not None, self.dist, self.device):
                        break
                    if self.plan.staged and self.step == self.plan.at(self.step).start:
                        stage = self.plan.at(self.step)
                        log.write({"event": "stage", "stage": stage.name, "step": self.step})
                        progress.update(task, description=self._title(stage))
                    batch = self.prepare_batch(self.loader.next())
                    try:
                        if self.step == first_step:
                            if self.settings.compile:  # torch.compile works during the first steps: say why they wait
                                progress.update(task, description=f"{self._title(stage)} (compiling the networks)")
                            with first_step_named(self.model.name, self.nets, batch):
                                scalars = self.train_on(batch)
                            progress.update(task, description=self._title(stage))
                        else:
                            scalars = self.train_on(batch)
                        guard.passed()
                    except NonFiniteLoss as error:
                        guard.skip(str(error), self.step + 1)
                        scalars = {}
                    self.step += 1
                    extra = {"lr": self._current_lr(), **({"stage": stage.name} if self.plan.staged else {}),
                             **({"skipped_steps": guard.skipped} if guard.skipped else {})}
                    info = log.step(self.step, self.step == self.total_steps, scalars, extra)
                    if info is not None:
                        progress.update(task, info=info)
                    progress.update(task, completed=self.step)
                    if self.loader.epoch_finished and self.model.log_epochs:
                        log.end_epoch(self.loader.epoch + 1, self.step)
                        samples.write(f"epoch-{self.loader.epoch + 1:03d}")
                    if self.step % self.settings.sample_every == 0:
                        samples.write(f"step-{self.step:06d}")
                    if self.step % self.settings.checkpoint_every == 0 and guard.healthy:
                        guard.last_good = self.save_checkpoint() or guard.last_good
        except FirstStepFailed:
            if writes and self.resume_from is None:
                log.close()
                remove_unstarted_run(self.run_dir)
            raise
        finally:
            log.close()
        last_checkpoint = self._finish(samples) if writes else None
        if stop.received is not None:
            raise stop.error(self.step, self.run_dir)
        return RunResult(self.run_dir, self.step, last_checkpoint, log.last_values, guard.skipped)

    def _title(self, stage: PlannedStage | None) -> str:
        return f"{self.model.name} [{stage.name}]" if stage is not None and self.plan.staged else self.model.name

    def _current_lr(self) -> float:
        return self.optimizers[self.plan.at(max(self.step - 1, 0)).optimizers[0]].rate

    def _finish(self, samples: SampleWriter) -> Path:
        """The last step's checkpoint, grid and report (rank 0)."""
        if self._latest_checkpoint_step() != self.step:
            checkpoint = self.save_checkpoint()
        else:
            checkpoint = ckpt.resolve_latest(self.run_dir)
        if not (self.run_dir / "samples" / f"step-{self.step:06d}.png").exists():
            samples.write(f"step-{self.step:06d}")
        self.write_report()
        return checkpoint

    # --------------------------------------------------------------- outputs
    @torch.no_grad()
    def generate(self, inputs: dict[str, Tensor]) -> Tensor:
        """The sample grid's images, from the EMA networks where there are; networks in eval mode, state untouched."""
        nets = Networks({**self.modules, **{name: ema.module for name, ema in self.emas.items()}})
        modes = {name: module.training for name, module in nets.items()}
        for module in nets.values():
            module.eval()
        try:
            with self.precision.autocast():
                return self.model.sample(nets, inputs).float()
        finally:
            for name, module in nets.items():
                module.train(modes[name])

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
        if self.plan.staged:
            summary["stages"] = ", ".join(f"{s.name} (steps {s.start}-{s.end})" for s in self.plan.stages)
        return write_report(self.run_dir, f"gankit run: {self.model.name}", summary)

    # ------------------------------------------------------------ checkpoints
    def _latest_checkpoint_step(self) -> int | None:
        try:
            return int(ckpt.resolve_latest(self.run_dir).stem.split("-")[1])
        except (CheckpointError, IndexError, ValueError):
            return None

    def checkpoint_bytes(self) -> bytes:
        return pack_state(self)

    def save_checkpoint(self) -> Path | None:
        """Write this step's checkpoint (rank 0 only) and point ``latest`` at it."""
        if not (self.dist.is_main and self.write and self.run_dir is not None):
            return None
        return ckpt.save(self.run_dir / "checkpoints", self.step, self.checkpoint_bytes(), self.settings.keep)

    def restore(self, checkpoint: ckpt.Checkpoint) -> None:
        """Continue exactly where ``checkpoint`` stopped: weights, optimizers, scalers, RNG, data order, stage."""
        self.setup()
        restore_state(self, checkpoint)
