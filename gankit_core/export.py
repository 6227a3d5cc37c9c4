"""ONNX export of a trained run's inference networks (``gankit export``), checked with onnx.checker and onnxruntime.

The networks are exported through torch's own exporter (``torch.onnx.export(dynamo=True)``, which needs
onnxscript); the TorchScript-based one (``dynamo=False``) also handles these networks but is deprecated and
slated for removal. The weights are those ``api.load_checkpoint`` gives: the EMA weights where the run kept an
EMA. onnx, onnxruntime and onnxscript form the optional ``export`` extra.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

from gankit_core.engine.checkpoint import write_atomic
from gankit_core.errors import GankitError
from gankit_core.outputs import check_files, refuse_protected

EXTRA_PACKAGES = ("onnx", "onnxruntime", "onnxscript")


def require_export_extra() -> None:
    """Raise a one-line GankitError naming the extra when any of its packages is missing."""
    missing = [name for name in EXTRA_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise GankitError(f"ONNX export needs the 'export' extra ({', '.join(missing)} missing): "
                          "pip install 'gankit[export]'")


@dataclass(frozen=True)
class ExportedNetwork:
    """One written ONNX file and how its onnxruntime output compared with PyTorch's."""

    network: str
    path: Path
    input_names: tuple[str, ...]
    input_shapes: tuple[tuple[int | str, ...], ...]
    output_shape: tuple[int | str, ...]
    opset: int
    max_abs_difference: float  # onnxruntime vs PyTorch on the same random inputs


def newest_opset() -> int:
    """The newest ONNX opset the installed onnx package defines (checked models cannot use a newer one)."""
    import onnx

    return onnx.defs.onnx_opset_version()


def check_opset(opset: int | None) -> None:
    """Refuse an opset outside what the installed onnx defines, before anything is loaded or traced."""
    if opset is None:
        return
    import onnx

    if not 1 <= opset <= newest_opset():
        raise GankitError(f"--opset {opset} is not an opset onnx {onnx.__version__} defines: give one up to "
                          f"{newest_opset()} (torch's exporter writes its own and converts to the others where it can)")


def output_paths(output: Path, networks: list[str]) -> dict[str, Path]:
    """One file per network: OUTPUT itself for one network, OUTPUT's stem + ``-<network>.onnx`` for several."""
    if output.suffix != ".onnx":
        raise GankitError(f"the output file must end in .onnx, not {output.name!r}")
    if len(networks) == 1:
        return {networks[0]: output}
    return {name: output.with_name(f"{output.stem}-{name}.onnx") for name in networks}


def default_output(run: Path, model_name: str) -> Path:
    """``RUN/<model>.onnx`` for a run directory, ``<checkpoint stem>.onnx`` beside a checkpoint file."""
    return run / f"{model_name}.onnx" if run.is_dir() else run.with_suffix(".onnx")


def input_names(count: int) -> tuple[str, ...]:
    return ("input",) if count == 1 else tuple(f"input{index}" for index in range(count))


def random_like(examples: tuple, batch: int, seed: int = 0) -> tuple:
    """Random inputs shaped like ``examples`` with ``batch`` rows: noise for float inputs (zeros would make any
    two networks with equal biases agree), the example's own values for integer ones (labels, indices)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    inputs = []
    for example in examples:
        if example.is_floating_point():
            inputs.append(torch.randn(batch, *example.shape[1:], generator=generator, dtype=example.dtype))
        else:
            rows = example[torch.arange(batch) % example.shape[0]]
            inputs.append(rows)
    return tuple(inputs)


def run_onnx(path: Path, inputs: tuple):
    """The first output of ``path`` in onnxruntime's CPU provider for torch ``inputs``, as a numpy array."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {spec.name: tensor.numpy() for spec, tensor in zip(session.get_inputs(), inputs, strict=True)}
    return session.run(None, feeds)[0]


def _shape(value_info) -> tuple[int | str, ...]:
    return tuple(d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim)


def export_network(network: str, module, examples: tuple, path: Path, opset: int | None, dynamic_batch: bool,
                   metadata: dict[str, str]) -> ExportedNetwork:
    """Export ``module`` traced at ``examples`` to ``path``, check it, and compare onnxruntime with PyTorch."""
    import onnx
    import torch

    names = input_names(len(examples))
    try:
        with torch.no_grad():
            module(*examples)
    except Exception as error:  # a plugin bug, but one a user meets here: say which method to fix
        raise GankitError(f"network '{network}' does not run on its model's example_inputs "
                          f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
                          "the model must override example_inputs for it") from error
    dynamic_shapes = None
    if dynamic_batch:
        batch = torch.export.Dim("batch", min=1)
        dynamic_shapes = tuple({0: batch} for _ in examples)
    quiet = io.StringIO()  # the exporter reports its progress on stdout and logs; a failure is raised, not printed
    exporter_logs = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    log_levels = [log.level for log in exporter_logs]
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), torch.no_grad():
            warnings.simplefilter("ignore")
            for log in exporter_logs:
                log.setLevel(logging.CRITICAL)
            program = torch.onnx.export(module, examples, dynamo=True, input_names=list(names),
                                        output_names=["output"], opset_version=opset, dynamic_shapes=dynamic_shapes)
            model = program.model_proto
    except Exception as error:  # the exporter's many error types: a network it cannot express
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise GankitError(f"torch could not export network '{network}' to ONNX: {first_line}") from error
    finally:
        for log, level in zip(exporter_logs, log_levels, strict=True):
            log.setLevel(level)
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as error:
        raise GankitError(f"network '{network}': the exported model fails onnx.checker: "
                          f"{str(error).splitlines()[0]}") from error
    opset_used = next(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx"))
    if opset is not None and opset_used != opset:  # the exporter falls back to its own opset when it cannot convert
        raise GankitError(f"torch's exporter cannot convert network '{network}' to opset {opset} (it wrote its own, "
                          f"{opset_used}); the supported opsets are {opset_used} to {newest_opset()}, and lower ones "
                          "only where the exporter can convert the network")
    write_atomic(path, model.SerializeToString())  # an unwritable path is the CLI's one-line OSError
    check_inputs = random_like(examples, 3 if dynamic_batch else examples[0].shape[0])
    with torch.no_grad():
        expected = module(*check_inputs).float().numpy()
    actual = run_onnx(path, check_inputs)
    difference = float(abs(actual - expected).max())
    return ExportedNetwork(network, path, names,
                           tuple(_shape(value) for value in model.graph.input), _shape(model.graph.output[0]),
                           opset_used, difference)


def export_run(run: str | Path, output: str | Path | None = None, network: str | None = None,
               opset: int | None = None, dynamic_batch: bool = False, force: bool = False) -> list[ExportedNetwork]:
    """Export the inference networks of a run directory or checkpoint file to ONNX, one file per network.

    A file that exists is refused unless ``force`` (gankit_core.outputs), checked before anything is exported."""
    require_export_extra()
    check_opset(opset)
    from gankit_core import api

    run = Path(run)
    if output is not None:
        refuse_protected(Path(output), [run])  # before the slow load; the rest once the networks are known
    loaded = api.load_checkpoint(run)
    model = loaded.model
    networks = list(model.inference_networks)
    if network is not None:
        if network not in networks:
            raise GankitError(f"model '{model.name}' has no inference network '{network}'; "
                              f"it exports {', '.join(networks)}")
        networks = [network]
    paths = output_paths(Path(output) if output is not None else default_output(run, model.name), networks)
    check_files(list(paths.values()), force=force, inputs=[run])
    exported = []
    for name, path in paths.items():
        examples = tuple(model.example_inputs(name))
        metadata = {"gankit.model": model.name, "gankit.network": name, "gankit.step": str(loaded.step),
                    "gankit.image_size": str(model.config.image_size),
                    "gankit.output": "N x 3 x H x W images in [-1, 1]"}
        exported.append(export_network(name, loaded.nets[name], examples, path, opset, dynamic_batch, metadata))
    return exported
