"""The training engine: one Trainer for every model (see docs/engine.md)."""

from gankit_core.engine.trainer import (
    RunResult,
    Trainer,
    TrainingDiverged,
    TrainingInterrupted,
    TrainSettings,
)

__all__ = ["RunResult", "TrainSettings", "Trainer", "TrainingDiverged", "TrainingInterrupted"]
