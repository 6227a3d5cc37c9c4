"""The one trainer every model trains on. The loop in ``fit`` reads as a training iteration; the machinery lives
in small parts beside it, each handed only what it uses: placement.py (device, precision, processes, memory
format), stages.py (stage switching), step.py (the StepContext: backward, loss scaling, gradient averaging),
optim.py (optimizers, their schedules and loss scalers), guards.py (NaN guard, Ctrl-C), run_log.py (metrics,
metrics.jsonl, report.html, progress), state.py (what a checkpoint holds), run_dir.py (the run directory) and
sampler.py (sample grids). What happens around the loop is told to callbacks (gankit_core/callbacks.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from gankit_core.callbacks import RunEvents, RunInfo, RunStatus, check_callback_names, select_callbacks
from gankit_core.config import to_toml_value
from gankit_core.data import Dataset, open_dataset
from gankit_core.data.loader import BatchLoader
from gankit_core.engine import checkpoint as ckpt
from gankit_core.engine import distributed
from gankit_core.engine.guards import (
    FirstStepFailed,
    NaNGuard,
    NonFiniteLoss,
    StopSignal,
    TrainingDiverged,
    TrainingInterrupted,
    first_step_named,
)
from gankit_core.engine.helpers import GeneratorEMA
from gankit_core.engine.layout import has_instance_norms
from gankit_core.engine.optim import Optimization
from gankit_core.engine.placement import Placement
from gankit_core.engine.run_dir import open_run_dir, remove_unstarted_run, trim_metrics, write_config
from gankit_core.engine.run_log import MetricsFile, RunLog, RunReport, progress_bar, progress_text
from gankit_core.engine.sampler import SampleWriter
from gankit_core.engine.stages import PlannedStage, StagePlan, enter_stage, set_modes
from gankit_core.engine.state import TrainingState, load_weights, pack_state, restore_state
from gankit_core.engine.step import TrainingStep
from gankit_core.errors import CheckpointError, ConfigError
from gankit_core.interfaces import Model, Networks

__all__ = ["RETIRED_SETTINGS", "RunResult", "TrainSettings", "Trainer", "TrainingDiverged", "TrainingInterrupted"]

# Settings older runs' config.toml may hold that no longer exist: dropped when such a run is read back.
# tensorboard (a bool): TensorBoard is a callback from a plugin now, chosen with --log.
RETIRED_SETTINGS = ("tensorboard",)


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
    log: list[str] = field(default_factory=list)  # registered callbacks to tell (--log NAME; trackers)
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
    """Trains a model; ``fit()`` runs to the step count, resuming from ``resume_from`` when given.

    Constructing it builds the run: it joins torchrun's process group if any, builds and places the networks,
    their EMAs and optimizers, and opens the data; ``fit`` trains."""

    def __init__(self, model: Model, settings: TrainSettings | None = None, *, dataset: Dataset | None = None,
                 run_dir: str | Path | None = None, resume_from: str | Path | None = None, write: bool = True) -> None:
        settings = settings or TrainSettings()
        settings.validate()
        check_callback_names(settings.log)
        config = model.config
        self.model = model
        self.settings = settings
        self.requested_run_dir = Path(run_dir) if run_dir is not None else None
        self.resume_from = Path(resume_from) if resume_from is not None else None
        self.earlier_time = 0.0  # seconds the run had trained before a resume (its metrics' time goes on from it)
        self.write = write
        self.run_dir: Path | None = None  # set by fit on rank 0 of a run that writes
        self.events = RunEvents()  # the callbacks fit tells (none outside fit)
        torch.manual_seed(settings.seed)
        built = self._build()
        self.placement = Placement.choose(settings.device, settings.precision, settings.channels_last,
                                          model.channels_last_on_cpu,
                                          instance_norms=any(has_instance_norms(m) for m in built.values()))
        modules = {name: self.placement.place(module) for name, module in built.items()}
        emas = ({name: GeneratorEMA(modules[name], config.ema_decay) for name in model.inference_networks}
                if config.ema_decay > 0 else {})
        # What train_step runs: compiled where asked (a parameterless module, an image pool, stays eager).
        self.nets = Networks({name: (torch.compile(m) if settings.compile and any(True for _ in m.parameters()) else m)
                              for name, m in modules.items()})
        optimization = Optimization.build(model.optimizers(Networks(modules)), config.lr_schedule,
                                          self.placement.precision, model.name)
        # The EMA of an inference network follows every step of an optimizer that moves its weights.
        self.ema_followers = {
            name: [net for net in emas if {id(p) for p in modules[net].parameters()} & {id(p) for p in o.params}]
            for name, o in optimization.optimizers.items()
        }
        self.dataset = dataset if dataset is not None else open_dataset(config.data, config.image_size,
                                                                         seed=settings.seed, strict=settings.strict_data)
        self.dataset.require(model.batch_fields, model.name)
        dist = self.placement.dist
        loader = BatchLoader(self.dataset, config.batch_size, settings.seed, dist.rank, dist.world_size)
        noise = torch.Generator(device=self.placement.device).manual_seed(settings.seed + 1)
        self.state = TrainingState(modules, emas, optimization, noise, loader)
        self.plan = StagePlan(model, list(modules), list(optimization.optimizers), loader.batches_per_epoch,
                              settings.steps, settings.epochs, settings.stage)
        self.total_steps = self.plan.total
        self._stage: PlannedStage | None = None  # the stage the networks were last set up for
        if settings.init_from is not None and self.resume_from is None:
            load_weights(self.state, ckpt.read(settings.init_from), model.name)

    def _build(self) -> dict[str, nn.Module]:
        try:
            built = self.model.build()
        except (RuntimeError, ValueError) as error:  # a width of 0 or -8 fails in torch's layer constructors
            raise ConfigError(f"model '{self.model.name}' cannot build its networks with this config: "
                              f"{str(error).splitlines()[0]}") from None
        missing = [name for name in self.model.inference_networks if name not in built]
        if missing:
            raise TypeError(f"model '{self.model.name}' built no network named {missing}; it built {list(built)}")
        return built

    # The parts other code reads (bench, tests).
    @property
    def step(self) -> int:
        return self.state.step

    @step.setter
    def step(self, value: int) -> None:
        self.state.step = value

    @property
    def modules(self) -> dict[str, nn.Module]:
        return self.state.modules

    @property
    def loader(self) -> BatchLoader:
        return self.state.loader

    # ------------------------------------------------------------------ steps
    def prepare_batch(self, raw: dict[str, Tensor]) -> dict[str, Tensor]:
        return self.placement.prepare_batch(raw)

    def train_on(self, batch: dict[str, Tensor]) -> dict[str, Tensor | float]:
        """One training step on a prepared batch, in the stage the step belongs to."""
        stage = self.plan.at(self.step)
        if stage is not self._stage:
            enter_stage(stage, self.modules)
            self._stage = stage
        set_modes(stage, self.modules)
        optimization = self.state.optimization
        for name in stage.optimizers:
            optimization.optimizers[name].set_rate(self.step - stage.start, stage.length)
        context = TrainingStep(self.step, stage, self.model.config.n_critic, optimization=optimization,
                               placement=self.placement, noise=self.state.noise)
        scalars = self.model.train_step(self.nets, batch, context)
        distributed.broadcast_buffers(self.modules.values(), self.placement.dist)  # before the EMAs copy them
        emas = self.state.emas
        for network in {net for name in context.stepped for net in self.ema_followers[name]}:
            emas[network].update(self.modules[network])
        return scalars

    def fit(self, steps: int | None = None) -> RunResult:
        if steps is not None:
            self.total_steps = steps
        if self.resume_from is not None:
            restore_state(self.state, ckpt.read(self.resume_from), self.model, self.plan)
            if self.total_steps < self.step:
                raise ConfigError(f"the run is already at step {self.step} ({self.resume_from}); the step count is "
                                  f"the total to train to, so give more than {self.step}, not {self.total_steps}")
        writes = self.placement.dist.is_main and self.write
        selected = select_callbacks(self.settings.log) if writes else []  # before the run directory: a tracker
        run = self._open_run() if writes else None                       # that cannot start leaves nothing
        self.events = RunEvents(run, self._engine_callbacks(), selected)
        log = RunLog(self.settings.log_every, self.model.config.batch_size, self.earlier_time)
        samples = SampleWriter(self.model, self._sampling_networks(), self.dataset, self.placement,
                               count=self.settings.num_samples, seed=self.settings.seed + 2,
                               folder=self.run_dir / "samples" if self.run_dir is not None else None)
        guard, stop = NaNGuard(self.settings.nan_patience), StopSignal()
        progress = progress_bar(writes and self.settings.progress)
        status: RunStatus = "failed"
        checkpoint = None
        try:
            try:
                with stop.installed(), progress:
                    self.events.run_start()
                    self._train(log, samples, guard, stop, progress)
                if writes:
                    checkpoint = self._finish(samples)
                status = "interrupted" if stop.received is not None else "finished"
            finally:
                self.events.run_end(self.step, status)
        except FirstStepFailed:
            if writes and self.resume_from is None:
                remove_unstarted_run(self.run_dir)
            raise
        if stop.received is not None:
            raise stop.error(self.step, self.run_dir)
        return RunResult(self.run_dir, self.step, checkpoint, log.last_values, guard.skipped)

    def _train(self, log: RunLog, samples: SampleWriter, guard: NaNGuard, stop: StopSignal, progress) -> None:
        """The loop: a step, its metrics, then what is due after it (epoch means, grids, checkpoints)."""
        dist, device = self.placement.dist, self.placement.device
        first_step = self.step
        task = progress.add_task(self._title(self.plan.at(self.step) if self.step < self.total_steps else None),
                                 total=self.total_steps, completed=self.step, info="")
        while self.step < self.total_steps:
            if distributed.any_rank_true(stop.received is not None, dist, device):
                break
            stage = self.plan.at(self.step)
            if self.step == stage.start:
                self.events.stage_start(stage.name, self.step)
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
            extra = {"lr": self.state.optimization.optimizers[stage.optimizers[0]].rate,
                     **({"skipped_steps": guard.skipped} if guard.skipped else {})}
            metrics = log.step(self.step, self.step == self.total_steps, scalars, extra)
            if metrics is not None:
                self.events.step_end(self.step, metrics)
                progress.update(task, info=progress_text(metrics))
            progress.update(task, completed=self.step)
            if self.loader.epoch_finished and self.model.log_epochs:
                epoch = self.loader.epoch + 1
                self.events.epoch_end(epoch, self.step, log.end_epoch())
                self._write_sample(samples, f"epoch-{epoch:03d}")
            if self.step % self.settings.sample_every == 0:
                self._write_sample(samples, f"step-{self.step:06d}")
            if self.step % self.settings.checkpoint_every == 0 and guard.healthy:
                guard.last_good = self.save_checkpoint() or guard.last_good
            if self.step in (stage.end, self.total_steps):
                self.events.stage_end(stage.name, self.step)

    def _title(self, stage: PlannedStage | None) -> str:
        return f"{self.model.name} [{stage.name}]" if stage is not None and self.plan.staged else self.model.name

    def _finish(self, samples: SampleWriter) -> Path:
        """The last step's checkpoint and grid (rank 0; the report follows, from the run's end)."""
        if self._latest_checkpoint_step() != self.step:
            checkpoint = self.save_checkpoint()
        else:
            checkpoint = ckpt.resolve_latest(self.run_dir)
        if not (self.run_dir / "samples" / f"step-{self.step:06d}.png").exists():
            self._write_sample(samples, f"step-{self.step:06d}")
        return checkpoint

    # --------------------------------------------------------------- outputs
    def _open_run(self) -> RunInfo:
        """Rank 0: the run directory (metrics trimmed to the step a resumed run continues from) and config.toml."""
        resuming = self.resume_from is not None
        self.run_dir = open_run_dir(self.requested_run_dir, self.model.name, resuming)
        self.earlier_time = trim_metrics(self.run_dir, self.step if resuming else None)
        if not resuming or not (self.run_dir / "config.toml").exists():
            write_config(self.run_dir, self.model, self.settings, self.total_steps)
        placement = self.placement
        return RunInfo(
            run_dir=self.run_dir, model=self.model.name, config=to_toml_value(dataclasses.asdict(self.model.config)),
            total_steps=self.total_steps, start_step=self.step, rank=placement.dist.rank,
            world_size=placement.dist.world_size,
            train=to_toml_value({**dataclasses.asdict(self.settings), "steps": self.total_steps}),
            stages=tuple(self.plan.names), device=str(placement.device), precision=placement.precision.mode)

    def _engine_callbacks(self) -> list:
        """The engine's own callbacks: metrics.jsonl, then report.html (written before selected callbacks hear of
        the run's end, so a tracker can store it)."""
        config = self.model.config
        summary = {"device": str(self.placement.device), "precision": self.placement.precision.mode,
                   "batch size": str(config.batch_size), "image size": str(config.image_size),
                   "data": self.dataset.name}
        if self.plan.staged:
            summary["stages"] = ", ".join(f"{s.name} (steps {s.start}-{s.end})" for s in self.plan.stages)
        stage_of_step = (lambda step: self.plan.at(step).name) if self.plan.staged else None
        return [MetricsFile(stage_of_step), RunReport(summary)]

    def _sampling_networks(self) -> Networks:
        """The networks sample grids are drawn with: each inference network's EMA where the run keeps one."""
        return Networks({**self.modules, **{name: ema.module for name, ema in self.state.emas.items()}})

    def _write_sample(self, samples: SampleWriter, stem: str) -> None:
        written = samples.write(stem)
        if written is not None:
            self.events.sample(self.step, *written)

    # ------------------------------------------------------------ checkpoints
    def _latest_checkpoint_step(self) -> int | None:
        try:
            return int(ckpt.resolve_latest(self.run_dir).stem.split("-")[1])
        except (CheckpointError, IndexError, ValueError):
            return None

    def checkpoint_bytes(self) -> bytes:
        return pack_state(self.state, self.model, self.settings, self.plan, self.placement.precision.mode)

    def save_checkpoint(self) -> Path | None:
        """Write this step's checkpoint (rank 0 of a run that writes) and point ``latest`` at it."""
        if not (self.placement.dist.is_main and self.write and self.run_dir is not None):
            return None
        path = ckpt.save(self.run_dir / "checkpoints", self.step, self.checkpoint_bytes(), self.settings.keep)
        self.events.checkpoint(self.step, path)
        return path
