"""The Python API: everything the CLI does, callable from Python (the CLI is a thin layer over this)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gankit_core.errors import CheckpointError, ConfigError
from gankit_core.plugins import get_registry
from gankit_core.registry import Entry


def list_entries(pattern: str = "*", kind: str | None = None) -> list[Entry]:
    """Registered things matching a glob, optionally of one kind."""
    return get_registry().list(pattern, kind)


def list_models(pattern: str = "*") -> list[str]:
    """Names of registered models matching a glob: ``list_models("*gan*")``."""
    return [entry.name for entry in list_entries(pattern, "model")]


def get_entry(kind: str, name: str) -> Entry:
    return get_registry().get(kind, name)


def create_model(name: str, config: Any = None, **overrides: Any):
    """A model recipe by name, its config from the paper's defaults with ``overrides``."""
    model_class = get_entry("model", name).load()
    return model_class(config, **overrides)


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


def train(model, *, out: str | Path | None = None, dataset=None, **settings: Any):
    """Train a model (instance or name) on its configured data; returns a RunResult with the run directory."""
    from gankit_core.engine import Trainer

    if isinstance(model, str):
        model = create_model(model)
    trainer = Trainer(model, train_settings(settings), dataset=dataset, run_dir=out)
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
    return document


def resume(run_dir: str | Path, steps: int | None = None, **overrides: Any):
    """Continue a run exactly where its latest checkpoint stopped, to ``steps`` in total."""
    from gankit_core.engine import Trainer
    from gankit_core.engine.checkpoint import resolve_latest

    run_dir = Path(run_dir)
    document = read_run(run_dir)
    model = create_model(document["model"], **document.get("config", {}))
    values = {**document.get("train", {}), **overrides}
    if steps is not None:  # an explicit total replaces the run's own steps or epochs
        values["steps"] = steps
        values.pop("epochs", None)
    trainer = Trainer(model, train_settings(values), run_dir=run_dir, resume_from=resolve_latest(run_dir))
    return trainer.fit()


@dataclass
class LoadedModel:
    """A model restored from a checkpoint for inference: networks in eval mode (EMA weights of its inference
    networks where the run kept them)."""

    model: Any
    nets: Any
    step: int
    path: Path
    device: Any
    _datasets: dict = dataclasses.field(default_factory=dict, repr=False)  # (spec, seed) -> Dataset
    baseline: LoadedModel | None = None  # another run of the same model that ``evaluate`` compares against
    inception: str | None = None  # the Inception file ``gankit eval --inception`` names, for a model's own FID/KID
    stage: str | None = None  # the training stage the checkpoint's last step belonged to (None: a one-stage model)

    def inputs(self, n: int, seed: int = 0, data: str | None = None) -> dict[str, Any]:
        """Fixed inputs for ``n`` samples drawn with ``seed`` (real inputs from ``data`` when the model needs them)."""
        import torch

        from gankit_core.data import open_dataset
        from gankit_core.images import to_unit

        generator = torch.Generator().manual_seed(seed)
        batch: dict[str, Any] = {}
        if self.model.sample_needs_data:
            key = (data or self.model.config.data, seed)
            if key not in self._datasets:  # opened once, not once per batch of samples
                self._datasets[key] = open_dataset(key[0], self.model.config.image_size, seed=seed)
            dataset = self._datasets[key]
            raw = dataset.take(torch.arange(min(n, len(dataset))))
            batch = {k: (to_unit(v) if v.dtype == torch.uint8 and v.dim() == 4 else v) for k, v in raw.items()}
        inputs = self.model.sample_inputs(n, batch, generator)
        return {k: v.to(self.device) for k, v in inputs.items()}

    def sample(self, n: int = 64, seed: int = 0, data: str | None = None):
        """The model's sample grid images for ``n`` fixed inputs (rows of ``model.sample_columns``), on the CPU."""
        import torch

        with torch.no_grad():
            return self.model.sample(self.nets, self.inputs(n, seed, data)).float().cpu()

    def generate(self, n: int = 64, seed: int = 0, data: str | None = None):
        """Only the generated images for ``n`` fixed inputs (what FID/KID measure), in [-1, 1], on the CPU."""
        import torch

        with torch.no_grad():
            return self.model.generate(self.nets, self.inputs(n, seed, data)).float().cpu()


def load_checkpoint(path: str | Path, model: str | None = None, device: str = "cpu") -> LoadedModel:
    """Rebuild a model from a checkpoint (file or run directory, or a folder ``gankit export --format hub``
    wrote) for inference."""
    from gankit_core.engine import checkpoint as ckpt
    from gankit_core.engine.precision import choose_device
    from gankit_core.hub import is_pretrained
    from gankit_core.interfaces import Networks

    if is_pretrained(path):
        return load_pretrained(path, model=model, device=device)
    checkpoint = ckpt.read(path)
    if model is not None and checkpoint.model != model:
        raise CheckpointError(f"{checkpoint.path}: checkpoint is from model '{checkpoint.model}', not '{model}'")
    instance = create_model(checkpoint.model, **checkpoint.meta("config", {}))
    modules = instance.build()
    target = choose_device(device)
    for name, module in modules.items():
        prefix = "ema" if name in instance.inference_networks and checkpoint.has_module(name, "ema") else "net"
        checkpoint.load_module(name, module, prefix=prefix)
        module.to(target).eval()
    return LoadedModel(instance, Networks(modules), checkpoint.step, checkpoint.path, target,
                       stage=checkpoint.meta("stage"))


def load_pretrained(folder: str | Path, model: str | None = None, device: str = "cpu") -> LoadedModel:
    """Rebuild a model from a folder ``gankit export RUN --format hub`` wrote (config.json, model.safetensors),
    offline: its inference networks only, in eval mode, with the weights the export took (EMA where kept)."""
    from gankit_core.engine.precision import choose_device
    from gankit_core.hub import read_pretrained
    from gankit_core.interfaces import Networks

    pretrained = read_pretrained(folder)
    if model is not None and pretrained.model != model:
        raise CheckpointError(f"{pretrained.folder}: exported from model '{pretrained.model}', not '{model}'")
    instance = create_model(pretrained.model, **pretrained.config)
    modules = instance.build()
    target = choose_device(device)
    missing = [name for name in instance.inference_networks if name not in pretrained.weights]
    if missing:
        raise CheckpointError(f"{pretrained.weights_path}: no weights for network '{missing[0]}'")
    nets = {}  # only what was exported: a network the folder lacks fails by name, never runs untrained
    for name in instance.inference_networks:
        try:
            modules[name].load_state_dict(pretrained.weights[name])
        except RuntimeError as error:
            raise CheckpointError(f"{pretrained.weights_path}: network '{name}' does not match its config.json "
                                  f"({str(error).splitlines()[0]})") from None
        nets[name] = modules[name].to(target).eval()
    return LoadedModel(instance, Networks(nets), pretrained.step, pretrained.weights_path, target,
                       stage=pretrained.stage)


def sample(checkpoint: str | Path, n: int = 64, seed: int = 0, device: str = "cpu"):
    """Images in [-1, 1] (N x 3 x H x W) from a checkpoint."""
    return load_checkpoint(checkpoint, device=device).sample(n, seed)


def generate(loaded: LoadedModel, count: int, seed: int = 0, batch_size: int = 64, data: str | None = None):
    """``count`` generated images (``Model.generate``, never the grid's real inputs) as uint8, in batches."""
    import torch

    from gankit_core.images import to_uint8

    chunks = []
    for index, start in enumerate(range(0, count, batch_size)):
        chunks.append(to_uint8(loaded.generate(min(batch_size, count - start), seed=seed + index, data=data)))
    return torch.cat(chunks)


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
        loaded.baseline = load_checkpoint(baseline, model=model.name, device=device)
    metrics = metrics or list(model.default_metrics)
    own = set(model.own_metrics)
    registered = set(get_registry().names("metric"))
    unknown = [m for m in metrics if m not in own | registered]
    if unknown:
        raise GankitError(f"model '{model.name}' cannot be evaluated with {', '.join(unknown)}; "
                          f"it offers {', '.join(sorted(own | registered))}")
    results: dict[str, float | None] = {}
    if own & set(metrics):
        loaded.inception = inception
        results.update(model.evaluate(loaded, count=count, seed=seed, data=data))
    evaluation = Evaluation(loaded, count, seed=seed, data=data, device=device, inception=inception)
    for name in metrics:
        if name in own:
            continue
        value = get_entry("metric", name).load()(evaluation)
        results.update(value if isinstance(value, dict) else {name: value})
    return results
