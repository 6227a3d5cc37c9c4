"""The Python API: everything the CLI does, callable from Python (the CLI is a thin layer over this).

Loading a checkpoint for inference lives in gankit_core.inference (``LoadedModel``, ``load_checkpoint``,
``generate``), which the metrics use too; it is part of this API under the same names."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from gankit_core.errors import ConfigError
from gankit_core.inference import LoadedModel, generate, load_checkpoint, load_pretrained
from gankit_core.plugins import get_registry
from gankit_core.registry import Entry

__all__ = ["LoadedModel", "create_component", "create_model", "evaluate", "generate", "get_entry", "list_entries",
           "list_models", "load_checkpoint", "load_pretrained", "read_run", "resume", "run_config", "run_settings", "sample", "train",
           "train_settings"]


def list_entries(pattern: str = "*", kind: str | None = None) -> list[Entry]:
    """Registered things matching a glob, optionally of one kind."""
    return get_registry().list(pattern, kind)


def list_models(pattern: str = "*") -> list[str]:
    """Names of registered models matching a glob: ``list_models("*gan*")``."""
    return [entry.name for entry in list_entries(pattern, "model")]


def get_entry(kind: str, name: str) -> Entry:
    return get_registry().get(kind, name)


def create_model(name: str, config: Any = None, *, preset: str | None = None, **overrides: Any):
    """A model recipe by name, its config from the paper's defaults, then the named ``preset``'s values
    (``Model.presets``), then ``overrides``."""
    model_class = get_entry("model", name).load()
    return model_class(config, preset=preset, **overrides)


def create_component(kind: str, name: str, **kwargs: Any):
    """A generator, discriminator, layer or loss by name: ``create_component("generator", "dilated", width=32)``.

    Each constructor receives only the keyword arguments it names (as pluggy calls hooks), so a model passes
    the declared common arguments (``interfaces.COMPONENT_ARGUMENTS``: image_size, width, latent_dim, in_channels,
    out_channels) plus its own, and any component with the same inputs and outputs can stand in by name."""
    import inspect

    factory = get_entry(kind, name).load()
    parameters = inspect.signature(factory).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        kwargs = {key: value for key, value in kwargs.items() if key in parameters}
    return factory(**kwargs)


def train_settings(values: dict[str, Any]):
    """Engine settings from a dict of overrides, checked like a model config."""
    from gankit_core.config import resolve_config
    from gankit_core.engine import TrainSettings
    from gankit_core.engine.trainer import RETIRED_SETTINGS

    values = {key: value for key, value in values.items() if key not in RETIRED_SETTINGS}  # an older run's config.toml
    return resolve_config(TrainSettings, {**dataclasses.asdict(TrainSettings()), **values})


def run_settings(model, values: dict[str, Any]):
    """Engine settings for training ``model``: its preset's train-loop values (``steps``, ``sample_every``) as if
    given first, then ``values`` (an explicit ``epochs`` replaces the preset's ``steps``)."""
    preset = model.preset_named(model.preset).settings if model.preset is not None else {}
    if "epochs" in values:
        preset.pop("steps", None)
    return train_settings({**preset, **values})


def train(model, *, out: str | Path | None = None, dataset=None, **settings: Any):
    """Train a model (instance or name) on its configured data; returns a RunResult with the run directory. A model
    created with a preset trains for the preset's steps unless ``steps`` or ``epochs`` is given."""
    from gankit_core.engine import Trainer

    if isinstance(model, str):
        model = create_model(model)
    trainer = Trainer(model, run_settings(model, settings), dataset=dataset, run_dir=out)
    return trainer.fit()


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """The resolved config a run directory was started with."""
    from gankit_core.config import read_toml

    run_dir = Path(run_dir)
    if run_dir.is_file():
        raise ConfigError(f"{run_dir} is a file; give the run's directory (the folder holding config.toml)")
    if not run_dir.is_dir():
        raise ConfigError(f"run directory not found: {run_dir}")
    path = run_dir / "config.toml"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a gankit run directory (no config.toml)")
    document = read_toml(path)
    if "model" not in document:
        raise ConfigError(f"{path}: no 'model' key")
    if not isinstance(document["model"], str):
        raise ConfigError(f"{path}: 'model' must be a model's name, not {document['model']!r}")
    check_tables(document, path)
    return document


def check_tables(document: dict[str, Any], where: str | Path) -> None:
    """A config file's [config] and [train] (when present) must be tables: a one-line ConfigError otherwise."""
    for table in ("config", "train"):
        if table in document and not isinstance(document[table], dict):
            raise ConfigError(f"{where}: '{table}' must be a table ([{table}] with key = value lines), not "
                              f"{document[table]!r}")


def run_config(document: dict[str, Any], where: str | Path) -> dict[str, Any]:
    """The model config of a run's config.toml (``where``), migrated to the installed model's config version (a
    run written before versions were recorded is version 1)."""
    model_class = get_entry("model", document["model"]).load()
    try:
        migrated = model_class.migrate_config(document.get("config", {}), document.get("config_version", 1))
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None
    return migrated.values


def resume(run_dir: str | Path, steps: int | None = None, **overrides: Any):
    """Continue a run exactly where its latest checkpoint stopped, to ``steps`` in total."""
    from gankit_core.engine import Trainer
    from gankit_core.engine.checkpoint import resolve_latest

    run_dir = Path(run_dir)
    document = read_run(run_dir)
    # Migrated quietly: the checkpoint, read next, is migrated the same way and its warning names what was filled.
    model = create_model(document["model"], **run_config(document, run_dir / "config.toml"))
    values = {**document.get("train", {}), **overrides}
    if steps is not None:  # an explicit total replaces the run's own steps or epochs
        values["steps"] = steps
        values.pop("epochs", None)
    trainer = Trainer(model, train_settings(values), run_dir=run_dir, resume_from=resolve_latest(run_dir))
    return trainer.fit()


def sample(checkpoint: str | Path, n: int = 64, seed: int = 0, device: str = "cpu"):
    """Images in [-1, 1] (N x 3 x H x W) from a checkpoint."""
    return load_checkpoint(checkpoint, device=device).sample(n, seed)


def evaluate(checkpoint: str | Path, metrics: list[str] | None = None, count: int = 1000, data: str | None = None,
             seed: int = 0, device: str = "cpu", inception: str | None = None,
             model: str | None = None, baseline: str | Path | None = None) -> dict[str, float | None]:
    """Evaluate a checkpoint with the model's own metrics and any registered metric (FID and KID from core, others
    from plugins' ``register_metrics``); every metric sees the same generated and real images. A value is None
    where a metric has none to give (KID's spread over a single subset).

    ``baseline``: a checkpoint of another run of the same model (a variant trained as its own run) that the
    model's own metrics report beside this one."""
    from gankit_core.errors import GankitError
    from gankit_core.metrics.evaluation import Evaluation

    loaded = load_checkpoint(checkpoint, model=model, device=device)  # refuses another model's checkpoint
    model = loaded.model
    if baseline is not None:
        if not model.own_metrics:
            raise GankitError(f"model '{model.name}' has no evaluation of its own to compare a baseline in")
        baseline = load_checkpoint(baseline, model=model.name, device=device)
    metrics = metrics or list(model.default_metrics)
    own = set(model.own_metrics)
    registered = set(get_registry().names("metric"))
    unknown = [m for m in metrics if m not in own | registered]
    if unknown:
        raise GankitError(f"model '{model.name}' cannot be evaluated with {', '.join(unknown)}; "
                          f"it offers {', '.join(sorted(own | registered))}")
    evaluation = Evaluation(loaded, count, seed=seed, data=data, device=device, inception=inception, baseline=baseline)
    results: dict[str, float | None] = {}
    if own & set(metrics):
        results.update(model.evaluate(evaluation))
    for name in metrics:
        if name in own:
            continue
        value = get_entry("metric", name).load()(evaluation)
        results.update(value if isinstance(value, dict) else {name: value})
    return results
