"""What ``gankit info`` reports: config fields, parameter counts and per-layer output shapes."""

from __future__ import annotations

from typing import Any

from gankit_core.config import config_fields
from gankit_core.registry import Entry


def count_parameters(module) -> int:
    """Trainable parameters of a network."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def layer_table(module, inputs: tuple) -> list[dict[str, Any]]:
    """One row per leaf layer in call order: name, type, output shape, trainable parameters."""
    import torch

    rows: list[dict[str, Any]] = []
    handles = []
    names = {m: n for n, m in module.named_modules()}

    def record(layer, args, output):
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else None
        rows.append({
            "layer": names.get(layer, "?"),
            "type": type(layer).__name__,
            "output": list(shape[1:]) if shape else None,
            "params": sum(p.numel() for p in layer.parameters(recurse=False) if p.requires_grad),
        })

    for layer in module.modules():
        if next(layer.children(), None) is None:  # leaves only: containers would repeat their children
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


def describe(entry: Entry, layers: bool = False) -> dict[str, Any]:
    """Summary, paper, config fields with defaults, and per-network parameter counts of a registered thing."""
    info: dict[str, Any] = entry.as_dict()
    target = entry.load()
    doc = (getattr(target, "__doc__", None) or "").strip()
    info["doc"] = doc
    if entry.kind == "model":
        model = target()
        info["config"] = [{"name": n, "type": t, "default": d} for n, t, d in config_fields(model.Config)]
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
        network = target()
        info["networks"] = {entry.name: {"type": type(network).__name__, "params": count_parameters(network)}}
        example = getattr(network, "example_inputs", None)
        if layers and example is not None:
            inputs = example()
            info["networks"][entry.name]["input"] = [list(t.shape[1:]) for t in inputs]
            info["networks"][entry.name]["layers"] = layer_table(network, inputs)
    return info
