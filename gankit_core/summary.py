"""What ``gankit info`` reports: config fields, parameter counts and per-layer output shapes."""

from __future__ import annotations

from typing import Any

from gankit_core.config import config_fields
from gankit_core.registry import Entry


def count_parameters(module) -> int:
    """Trainable parameters of a network."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def layer_table(module, inputs: tuple) -> list[dict[str, Any]]:
    """One row per layer in call order: name, type, output shape, trainable parameters. A layer wrapped by
    parametrizations (spectral norm, weight norm) is one row of the layer it wraps, with its parameters. A
    ``TableRow`` (one row of a paper's layer table, e.g. LeakyReLU, conv, batch norm) is one row, its type the names
    of its layers, and its own layers are not listed again."""
    import torch
    from torch.nn.utils import parametrize

    from gankit_core.interfaces import TableRow

    rows: list[dict[str, Any]] = []
    handles = []
    names = {m: n for n, m in module.named_modules()}
    # The modules inside a parametrized layer's `parametrizations` compute its weight: not layers of their own.
    inside = {id(m) for layer in module.modules() if parametrize.is_parametrized(layer)
              for m in layer.parametrizations.modules()}
    inside |= {id(m) for row in module.modules() if isinstance(row, TableRow) for m in row.modules() if m is not row}

    def record(layer, args, output):
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else None
        table_row = isinstance(layer, TableRow)
        parts = list(layer.children()) if table_row else [layer]
        row = {
            "layer": names.get(layer, "?"),
            "type": ", ".join(_layer_type(part) for part in parts),
            "output": list(shape[1:]) if shape else None,
            "params": sum(p.numel() for p in layer.parameters(recurse=table_row or parametrize.is_parametrized(layer))
                          if p.requires_grad),
        }
        parametrized = [part for part in parts if parametrize.is_parametrized(part)]
        if parametrized:
            row["parametrizations"] = sorted({_parametrization_name(f) for part in parametrized
                                              for fs in part.parametrizations.values() for f in fs})
        rows.append(row)

    for layer in module.modules():
        leaf = next(layer.children(), None) is None  # containers would repeat their children
        whole = parametrize.is_parametrized(layer) or isinstance(layer, TableRow)
        if (leaf or whole) and id(layer) not in inside:
            handles.append(layer.register_forward_hook(record))
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        module.train(was_training)
        for handle in handles:
            handle.remove()
    return rows


def _layer_type(layer) -> str:
    """The class a user wrote: torch replaces a parametrized layer's class with a generated subclass of it."""
    from torch.nn.utils import parametrize

    return type(layer).__mro__[1].__name__ if parametrize.is_parametrized(layer) else type(layer).__name__


def _parametrization_name(function) -> str:
    """'_SpectralNorm' -> 'spectral norm', '_WeightNorm' -> 'weight norm'."""
    import re

    return re.sub(r"(?<!^)(?=[A-Z])", " ", type(function).__name__.lstrip("_")).lower()


def describe(entry: Entry, layers: bool = False) -> dict[str, Any]:
    """Summary, paper, config fields with defaults, and per-network parameter counts of a registered thing."""
    info: dict[str, Any] = entry.as_dict()
    target = entry.load()
    doc = (target.__doc__ or "").strip()
    info["doc"] = doc
    if entry.kind == "model":
        model = target()
        info["config"] = [{"name": n, "type": t, "default": d} for n, t, d in config_fields(model.Config)]
        info["config_version"] = model.config_version
        info["presets"] = [{"name": name, "summary": preset.summary, "overrides": dict(preset.overrides),
                            "measured": preset.measured} for name, preset in model.presets.items()]
        networks = model.build()
        info["inference_networks"] = list(model.inference_networks)
        info["stages"] = [{"name": stage.name, "steps": stage.steps, "epochs": stage.epochs,
                           "trains": list(stage.trains or networks), "optimizers": list(stage.optimizers),
                           "frozen": list(stage.frozen if stage.frozen is not None
                                          else [n for n in networks if stage.trains and n not in stage.trains])}
                          for stage in model.stages()]
        info["networks"] = {}
        for name, network in networks.items():
            record: dict[str, Any] = {"type": type(network).__name__, "params": count_parameters(network)}
            if layers and count_parameters(network):
                example = model.example_inputs(name)
                record["input"] = [list(t.shape[1:]) for t in example]
                record["layers"] = layer_table(network, example)
            info["networks"][name] = record
    elif entry.kind in ("generator", "discriminator", "layer"):
        import inspect

        from gankit_core.interfaces import Discriminator, Generator

        needs = [p.name for p in inspect.signature(target).parameters.values()
                 if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if needs:  # a part built inside a network (AdaLIN needs its channels): nothing to count alone
            info["needs"] = needs
            return info
        network = target()
        info["networks"] = {entry.name: {"type": type(network).__name__, "params": count_parameters(network)}}
        # A layer (the local mask) is a part, not a network with inputs of its own: counted, not traced.
        inputs = network.example_inputs() if isinstance(network, (Generator, Discriminator)) else None
        if layers and inputs is not None:
            info["networks"][entry.name]["input"] = [list(t.shape[1:]) for t in inputs]
            info["networks"][entry.name]["layers"] = layer_table(network, inputs)
    return info
