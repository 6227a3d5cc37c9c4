"""A trained model back from its checkpoint: ``load_checkpoint`` rebuilds it for inference, ``LoadedModel`` samples
and generates from it, ``generate`` makes a set of images in batches.

The inference commands (sample, eval, swap, transfer, translate, export) and the metrics stand on this module, and
it stands only on the registry, the checkpoint format and the data: neither the API nor the metrics import each
other through it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gankit_core.errors import CheckpointError


@dataclass
class LoadedModel:
    """A model restored from a checkpoint for inference: networks in eval mode (EMA weights of its inference
    networks where the run kept them)."""

    model: Any  # the Model, its config the checkpoint's (migrated to today's config version)
    nets: Any  # Networks by name
    step: int
    path: Path
    device: Any
    stage: str | None = None  # the training stage the checkpoint's last step belonged to (None: a one-stage model)
    ema_networks: frozenset[str] = frozenset()  # the inference networks loaded with their EMA weights
    _datasets: dict = dataclasses.field(default_factory=dict, repr=False)  # (spec, seed) -> Dataset

    def inputs(self, n: int, seed: int = 0, data: str | None = None) -> dict[str, Any]:
        """Fixed inputs for ``n`` samples drawn with ``seed`` (real inputs from ``data`` when the model needs them)."""
        import torch

        from gankit_core.data import open_dataset
        from gankit_core.images import unit_batch

        generator = torch.Generator().manual_seed(seed)
        batch: dict[str, Any] = {}
        if self.model.sample_needs_data:
            key = (data or self.model.config.data, seed)
            if key not in self._datasets:  # opened once, not once per batch of samples
                self._datasets[key] = open_dataset(key[0], self.model.config.image_size, seed=seed)
            dataset = self._datasets[key]
            batch = unit_batch(dataset.take(torch.arange(min(n, len(dataset)))))
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
    """Rebuild a model from a checkpoint (file or run directory, or a folder ``gankit export --format hub`` wrote)
    for inference; ``model`` refuses another model's."""
    from gankit_core.engine import checkpoint as ckpt
    from gankit_core.engine.precision import choose_device
    from gankit_core.hub import is_pretrained
    from gankit_core.interfaces import Networks
    from gankit_core.plugins import get_registry

    if is_pretrained(path):
        return load_pretrained(path, model=model, device=device)
    checkpoint = ckpt.read(path)  # its config migrated to the installed model's config version
    if model is not None and checkpoint.model != model:
        raise CheckpointError(f"{checkpoint.path}: checkpoint is from model '{checkpoint.model}', not '{model}'")
    instance = get_registry().get("model", checkpoint.model).load()(**checkpoint.meta("config", {}))
    modules = instance.build()
    target = choose_device(device)
    ema = frozenset(name for name in instance.inference_networks if checkpoint.has_module(name, "ema"))
    for name, module in modules.items():
        checkpoint.load_module(name, module, prefix="ema" if name in ema else "net")
        module.to(target).eval()
    return LoadedModel(instance, Networks(modules), checkpoint.step, checkpoint.path, target,
                       stage=checkpoint.meta("stage"), ema_networks=ema)


def load_pretrained(folder: str | Path, model: str | None = None, device: str = "cpu") -> LoadedModel:
    """Rebuild a model from a folder ``gankit export RUN --format hub`` wrote (config.json, model.safetensors),
    offline: its inference networks only, in eval mode, with the weights the export took (EMA where kept)."""
    from gankit_core.engine.precision import choose_device
    from gankit_core.hub import read_pretrained
    from gankit_core.interfaces import Networks
    from gankit_core.plugins import get_registry

    pretrained = read_pretrained(folder)  # its config migrated to the installed model's config version
    if model is not None and pretrained.model != model:
        raise CheckpointError(f"{pretrained.folder}: exported from model '{pretrained.model}', not '{model}'")
    instance = get_registry().get("model", pretrained.model).load()(**pretrained.config)
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


def generate(loaded: LoadedModel, count: int, seed: int = 0, batch_size: int = 64, data: str | None = None,
             progress: Any = None):
    """``count`` generated images (``Model.generate``, never the grid's real inputs) as uint8, in batches of
    ``batch_size`` (batch i drawn with ``seed + i``); ``progress`` (a ``progress.Steps``) advances per batch."""
    import torch

    from gankit_core.images import to_uint8

    chunks = []
    for index, start in enumerate(range(0, count, batch_size)):
        chunks.append(to_uint8(loaded.generate(min(batch_size, count - start), seed=seed + index, data=data)))
        if progress is not None:
            progress.advance(chunks[-1].shape[0])
    return torch.cat(chunks)
