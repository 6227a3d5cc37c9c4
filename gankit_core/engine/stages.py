"""Stage switching: a model's stages laid out on the global step axis, and what each stage trains and freezes."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from gankit_core.errors import ConfigError
from gankit_core.interfaces import Model, Stage


@dataclass(frozen=True)
class PlannedStage:
    """A stage with its place in the run: global steps ``start`` to ``start + length``."""

    stage: Stage
    start: int
    length: int
    trains: tuple[str, ...]
    optimizers: tuple[str, ...]
    frozen: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.stage.name

    @property
    def end(self) -> int:
        return self.start + self.length


def _length(stage: Stage, batches_per_epoch: int) -> int | None:
    if stage.steps is not None and stage.epochs is not None:
        raise ConfigError(f"stage '{stage.name}' gives both steps and epochs")
    if stage.steps is not None:
        return stage.steps
    if stage.epochs is not None:
        return stage.epochs * batches_per_epoch
    return None


class StagePlan:
    """The ordered stages of one run. Lengths come from the stages themselves, or, for a one-stage model or a
    single ``--stage``, from the run's ``--steps``/``--epochs`` (then the model's ``default_steps``)."""

    def __init__(self, model: Model, networks: list[str], optimizers: list[str], batches_per_epoch: int,
                 steps: int | None = None, epochs: int | None = None, only: str | None = None) -> None:
        declared = tuple(model.stages())
        if not declared:
            raise TypeError(f"model '{model.name}' declares no stages")
        names = [stage.name for stage in declared]
        if len(set(names)) != len(names):
            raise TypeError(f"model '{model.name}' declares stage names twice: {names}")
        if only is not None:
            if only not in names:
                raise ConfigError(f"model '{model.name}' has no stage '{only}'; its stages are {', '.join(names)}")
            declared = tuple(stage for stage in declared if stage.name == only)
        asked = steps if steps is not None else (epochs * batches_per_epoch if epochs is not None else None)
        self.stages: list[PlannedStage] = []
        start = 0
        for stage in declared:
            if len(declared) == 1:
                length = asked if asked is not None else _length(stage, batches_per_epoch)
                length = model.default_steps if length is None else length
            else:
                if epochs is not None:
                    raise ConfigError(f"model '{model.name}' trains in stages ({', '.join(names)}): set each "
                                      "stage's length in its config, or train one stage with --stage")
                length = _length(stage, batches_per_epoch)
                if length is None:
                    raise TypeError(f"model '{model.name}': stage '{stage.name}' has no length")
            self.stages.append(self._resolve(model, stage, start, length, networks, optimizers))
            start += length
        # --steps on a multi-stage model stops the run at that global step, wherever it falls.
        self.total = asked if asked is not None and len(declared) > 1 else start
        self.names = names

    @staticmethod
    def _resolve(model: Model, stage: Stage, start: int, length: int, networks: list[str],
                 optimizers: list[str]) -> PlannedStage:
        for label, chosen, known in (("network", stage.trains, networks), ("optimizer", stage.optimizers, optimizers),
                                     ("network", stage.frozen or (), networks)):
            unknown = [name for name in chosen if name not in known]
            if unknown:
                raise TypeError(f"model '{model.name}': stage '{stage.name}' names unknown {label}(s) {unknown}; "
                                f"known: {', '.join(known)}")
        trains = stage.trains or tuple(networks)
        frozen = stage.frozen if stage.frozen is not None else tuple(n for n in networks if n not in trains)
        return PlannedStage(stage, start, length, trains, stage.optimizers or tuple(optimizers), frozen)

    def at(self, step: int) -> PlannedStage:
        """The stage global step ``step`` (from 0) belongs to; past the end, the last stage."""
        for planned in self.stages:
            if step < planned.end:
                return planned
        return self.stages[-1]

    @property
    def staged(self) -> bool:
        """Whether the run has more than one stage (then progress, metrics and report name the stage)."""
        return len(self.stages) > 1 or len(self.names) > 1


def enter_stage(planned: PlannedStage, modules: dict[str, nn.Module]) -> None:
    """Freeze the stage's frozen networks (no weight gradients) and let every other network learn again."""
    for name, module in modules.items():
        module.requires_grad_(name not in planned.frozen)


def set_modes(planned: PlannedStage, modules: dict[str, nn.Module]) -> None:
    """Training mode for every network but the frozen ones, which stay in eval mode (their batch-norm
    statistics must not drift while another network learns through them)."""
    for name, module in modules.items():
        module.train(name not in planned.frozen)
