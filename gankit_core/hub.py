"""A trained run as a folder anyone can publish (``gankit export RUN --format hub``), and reading one back.

The folder follows the Hugging Face model-repository layout, so a user can push it with their own tools
(``huggingface-cli upload``, ``git``): ``config.json`` (the model's name and resolved config, the step, which
weights), ``model.safetensors`` (only the inference networks, their EMA weights where the run kept an EMA),
``README.md`` (a model card: YAML front matter, then the config, data, steps, the evaluation table and the
sample grid) and ``samples.png``. ``api.load_pretrained`` and every inference command load the folder back
offline; nothing here talks to a hub.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gankit_core.errors import CheckpointError, GankitError
from gankit_core.outputs import OutputRefused

FORMAT = "gankit-pretrained-1"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
GRID_FILE = "samples.png"
EXPORTED_FILES = (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE, GRID_FILE)
DEFAULT_EVAL_COUNT = 256  # images per set for the card's evaluation table (what the README's eval lines use)


def is_pretrained(path: str | Path) -> bool:
    """Whether ``path`` is a folder ``gankit export --format hub`` wrote (rather than a run directory)."""
    path = Path(path)
    return path.is_dir() and (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file()


@dataclass(frozen=True)
class Pretrained:
    """A hub folder as read from disk: the model's name, its resolved config, and the weights by network."""

    folder: Path
    model: str
    config: dict[str, Any]
    step: int
    stage: str | None
    weights: dict[str, dict[str, Any]]  # network -> its state dict

    @property
    def weights_path(self) -> Path:
        return self.folder / WEIGHTS_FILE


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: cannot read ({getattr(error, 'strerror', None) or error})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else None
        raise CheckpointError(f"{path}: not a gankit export (format {found!r}, expected {FORMAT!r})")
    expected = {"model": str, "config": dict, "networks": list, "step": int}
    for key, kind in expected.items():
        if not isinstance(document.get(key), kind) or isinstance(document.get(key), bool):
            raise CheckpointError(f"{path}: damaged export: '{key}' is {document.get(key)!r}, not a {kind.__name__}; "
                                  "export the run again")
    return document


def read_pretrained(folder: str | Path) -> Pretrained:
    """Read and check a hub folder; a missing, corrupt or mismatched file is a one-line CheckpointError."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_bytes

    folder = Path(folder)
    document = read_config(folder)
    path = folder / WEIGHTS_FILE
    try:
        tensors = load_bytes(path.read_bytes())
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read ({error.strerror})") from None
    except (SafetensorError, ValueError, RuntimeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{path}: truncated or corrupt weights ({reason})") from None
    weights: dict[str, dict[str, Any]] = {network: {} for network in document["networks"]}
    for key, tensor in tensors.items():
        network, _, name = key.partition("/")
        if network not in weights:
            raise CheckpointError(f"{path}: holds weights for '{network}', which {CONFIG_FILE} does not list")
        weights[network][name] = tensor
    empty = [network for network, state in weights.items() if not state]
    if empty:
        raise CheckpointError(f"{path}: no weights for network '{empty[0]}'")
    return Pretrained(folder, document["model"], migrated_config(folder, document), int(document["step"]),
                      document.get("stage"), weights)


def migrated_config(folder: Path, document: dict[str, Any]) -> dict[str, Any]:
    """config.json's model config brought to the installed model's config version, as a checkpoint's is: one
    warning names every key filled in; a config the installed model cannot read is refused."""
    import sys

    from gankit_core.errors import ConfigError
    from gankit_core.plugins import get_registry

    model_class = get_registry().get("model", document["model"]).load()  # an unknown model: a one-line error
    try:
        migration = model_class.migrate_config(document["config"], document.get("config_version", 1))
    except ConfigError as error:
        raise CheckpointError(f"{folder / CONFIG_FILE}: {error}") from None
    note = migration.describe(document["model"], model_class.config_version)
    if note is not None:
        print(f"warning: {folder / CONFIG_FILE}: {note}", file=sys.stderr)
    return migration.values


# ------------------------------------------------------------------------------------------- writing
@dataclass(frozen=True)
class HubExport:
    """What ``export_hub`` wrote."""

    folder: Path
    model: str
    networks: tuple[str, ...]
    step: int
    evaluation: dict[str, float | None]  # empty when not evaluated
    evaluation_note: str  # why there is no table ("" when there is one)


def default_folder(run: Path) -> Path:
    """``RUN/hub`` for a run directory, ``<checkpoint stem>-hub`` beside a checkpoint file."""
    return run / "hub" if run.is_dir() else run.with_name(f"{run.stem}-hub")


def _check_output(folder: Path, force: bool) -> None:
    """Refuse a folder holding anything but an earlier export's files (a user's files are never overwritten),
    and an earlier export unless ``force`` (the overwrite rule of every command that writes)."""
    if folder.exists() and not folder.is_dir():
        raise GankitError(f"{folder} is a file; the hub format writes a folder")
    if not folder.is_dir():
        return
    foreign = sorted(p.name for p in folder.iterdir() if p.name not in EXPORTED_FILES)
    earlier_export = (folder / CONFIG_FILE).is_file() and _is_our_config(folder)
    if foreign or (any(folder.iterdir()) and not earlier_export):
        shown = ", ".join((foreign or sorted(p.name for p in folder.iterdir()))[:3])
        raise GankitError(f"{folder} already holds other files ({shown}); choose an empty folder with -o")
    if earlier_export and not force:
        raise OutputRefused(f"{folder} holds an earlier export; add --force to replace it")


def _is_our_config(folder: Path) -> bool:
    try:
        read_config(folder)
    except CheckpointError:
        return False
    return True


def _run_document(run: Path) -> dict[str, Any]:
    """The run's config.toml (for a checkpoint file, the run directory it sits in), or {} when there is none."""
    from gankit_core.config import read_toml

    directory = run if run.is_dir() else run.parent.parent if run.parent.name == "checkpoints" else None
    if directory is None or not (directory / "config.toml").is_file():
        return {}
    return read_toml(directory / "config.toml")


def _json_ready(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_json_ready(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    return value


def export_hub(run: str | Path, output: str | Path | None = None, eval_count: int = DEFAULT_EVAL_COUNT,
               seed: int = 0, device: str = "cpu", inception: str | None = None, force: bool = False,
               announce: Callable[[str], None] | None = None) -> HubExport:
    """Write RUN's inference networks, config, model card and sample grid to a folder (see the module's text).

    ``eval_count`` images per set go into the card's evaluation table (``gankit eval`` on the exported folder,
    the model's default metrics); 0 leaves the table out. ``announce`` is told, in one line, when that evaluation
    (minutes on a CPU) starts."""
    from safetensors.torch import save as save_bytes

    from gankit_core import __version__, api
    from gankit_core.engine import checkpoint as ckpt
    from gankit_core.images import save_grid

    run = Path(run)
    if is_pretrained(run):
        raise GankitError(f"{run} is already an exported folder; export the run it came from")
    if eval_count < 0:
        raise GankitError(f"--eval must be 0 (no evaluation) or a number of images, not {eval_count}")
    folder = Path(output) if output is not None else default_folder(run)
    _check_output(folder, force)
    loaded = api.load_checkpoint(run)  # one read of the checkpoint: its weights and which were EMA
    model = loaded.model
    networks = tuple(model.inference_networks)
    weights = {name: "ema" if name in loaded.ema_networks else "trained" for name in networks}
    tensors = {f"{name}/{key}": value.detach().cpu().contiguous()
               for name in networks for key, value in loaded.nets[name].state_dict().items()}
    document = _run_document(run)
    entry = api.get_entry("model", model.name)
    config = {
        "format": FORMAT,
        "library_name": "gankit",
        "model": model.name,
        "config": _json_ready(dataclasses.asdict(model.config)),
        "config_version": model.config_version,
        "networks": list(networks),
        "weights": weights,
        "step": loaded.step,
        "stage": loaded.stage,
        "stages": [stage.name for stage in model.stages()],
        "total_steps": document.get("train", {}).get("steps"),
        "preset": document.get("preset"),
        "versions": {"gankit": __version__, entry.plugin.distribution: entry.plugin.version},
    }
    folder.mkdir(parents=True, exist_ok=True)
    ckpt.write_atomic(folder / WEIGHTS_FILE, save_bytes(tensors, metadata={"format": FORMAT, "model": model.name}))
    ckpt.write_atomic(folder / CONFIG_FILE, (json.dumps(config, indent=2) + "\n").encode())

    # The grid and the table come from the exported folder itself, so the card shows what a user loads.
    exported = api.load_pretrained(folder)
    grid_count = 16 if model.sample_columns is None else 4
    save_grid(exported.sample(grid_count, seed), folder / GRID_FILE, model.sample_columns)
    evaluation: dict[str, float | None] = {}
    note = "not evaluated (--eval 0)"
    if eval_count:
        if announce is not None:
            announce(f"evaluating {folder} on {eval_count} images per set for the model card's table (minutes on a "
                     "CPU; --eval 0 leaves the table out)")
        try:
            evaluation = api.evaluate(folder, count=eval_count, seed=seed, device=device, inception=inception)
            note = ""
        except GankitError as error:  # e.g. FID with no Inception file: the card says why, the export goes on
            note = f"not evaluated: {error}"
    card = model_card(config, entry, evaluation, note, eval_count, seed, grid_count, model.sample_needs_data)
    ckpt.write_atomic(folder / CARD_FILE, card.encode())
    return HubExport(folder, model.name, networks, loaded.step, evaluation, note)


# ---------------------------------------------------------------------------------------- model card
def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML for the front matter (mappings, lists, scalars); no YAML library needed to write it."""
    pad = " " * indent
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{key}:")
                lines.append(to_yaml(item, indent + 2))
            else:
                lines.append(f"{pad}{key}: {_yaml_scalar(item) if not isinstance(item, dict | list) else '[]'}")
    else:
        for item in value:
            if isinstance(item, dict):
                first, *rest = to_yaml(item, indent + 2).splitlines()
                lines.append(f"{pad}- {first.lstrip()}")
                lines.extend(rest)
            else:
                lines.append(f"{pad}- {_yaml_scalar(item)}")
    return "\n".join(lines)


def _dataset_name(spec: str) -> str:
    """The dataset's registry name, never a local path (``folder:/home/me/faces`` -> ``folder``)."""
    return spec.split(":", 1)[0]




def model_card(config: dict[str, Any], entry: Any, evaluation: dict[str, float | None], note: str,
               eval_count: int, seed: int, grid_count: int, maps_images: bool) -> str:
    """The README.md of an exported folder, in the Hugging Face model-card layout. ``maps_images``: the model
    maps images to images (its samples need real inputs) rather than noise to images."""
    name = config["model"]
    data = config["config"].get("data", "")
    task = "image-to-image" if maps_images else "unconditional-image-generation"
    front: dict[str, Any] = {
        "library_name": "gankit",
        "pipeline_tag": task,
        "tags": ["gankit", "gan", "pytorch", task, name],
        "datasets": [_dataset_name(data)] if data else [],
    }
    finite = {k: v for k, v in evaluation.items() if isinstance(v, int | float) and math.isfinite(v)}
    if finite:
        front["metrics"] = sorted({key.rsplit("/", 1)[-1] for key in finite})
        front["model-index"] = [{"name": f"gankit-{name}", "results": [{
            "task": {"type": task},
            "dataset": {"name": _dataset_name(data), "type": _dataset_name(data)},
            "metrics": [{"type": key, "name": f"{key} ({eval_count} images, seed {seed})",
                         "value": round(float(v), 6)} for key, v in finite.items()],
        }]}]
    weight_text = ", ".join(f"`{net}` ({'EMA' if kind == 'ema' else 'trained'} weights)"
                            for net, kind in config["weights"].items())
    steps = f"{config['step']}" + (f" of {config['total_steps']}" if config.get("total_steps") else "")
    stages = config.get("stages", [])
    staged = len(stages) > 1 and config.get("stage")
    stage = f" (stage `{config['stage']}` of {', '.join(stages)})" if staged else ""
    preset = f"\n- preset: `{config['preset']}`" if config.get("preset") else ""
    versions = ", ".join(f"{dist} {version}" for dist, version in config["versions"].items())
    config_rows = "\n".join(f"| `{key}` | `{json.dumps(value)}` |" for key, value in config["config"].items())
    paper = f" Paper: {entry.paper}." if entry.paper else ""
    lines = [
        "---", to_yaml(front), "---", "",
        f"# gankit `{name}`", "",
        f"{entry.summary.rstrip('.')}.{paper} Trained with gankit and exported with "
        "`gankit export RUN --format hub`.", "",
        "## Use it", "",
        "Offline, with gankit and the plugin that gives the model installed:", "",
        "```",
        f"pip install gankit {entry.plugin.distribution}",
        f"gankit sample {name} --checkpoint THIS_FOLDER -n 16 -o samples.png",
        f"gankit eval {name} --checkpoint THIS_FOLDER",
        "```", "",
        "```python",
        "from gankit_core import load_pretrained",
        'loaded = load_pretrained("THIS_FOLDER")   # networks in eval mode, on the CPU',
        "images = loaded.sample(16)                # N x 3 x H x W in [-1, 1]",
        "```", "",
        "Every inference command (`gankit sample`, `swap`, `translate`, `transfer`, `eval`, `demo`) takes this "
        "folder as `--checkpoint` (or `RUN`), as it takes a run directory.", "",
        "## Training", "",
        f"- steps: {steps}{stage}",
        f"- data: `{data}`" + (" (gankit's built-in procedural faces: nothing downloaded)" if
                               data.startswith("synthetic") else ""),
        f"- image size: {config['config'].get('image_size')} px, batch size {config['config'].get('batch_size')}",
        f"- networks in `model.safetensors`: {weight_text}{preset}",
        f"- versions: {versions}", "",
        "## Config", "",
        "| key | value |", "| --- | --- |", config_rows, "",
        "## Evaluation", "",
    ]
    if evaluation:
        lines += [f"`gankit eval {name} --checkpoint THIS_FOLDER -n {eval_count} --seed {seed}`, on this folder's "
                  "weights:", "", "| metric | value |", "| --- | --- |"]
        from gankit_core.cli_metrics import _plain  # gankit eval's own wording (kid_std: why there is none)

        lines += [f"| {key} | {_plain(key, value)} |" for key, value in evaluation.items()]
    else:
        lines.append(f"{note[0].upper()}{note[1:]}. `gankit eval {name} --checkpoint THIS_FOLDER` measures it.")
    lines += ["", "## Samples", "",
              f"![samples from step {config['step']}]({GRID_FILE})", "",
              f"`gankit sample {name} --checkpoint THIS_FOLDER -n {grid_count} --seed {seed}`", ""]
    return "\n".join(lines)

