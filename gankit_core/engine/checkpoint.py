"""Checkpoints in safetensors (never pickle): tensors by name, everything else as JSON metadata.

A checkpoint holds the weights of every network and the EMA, optimizer and loss-scaler state, the
RNG states, the data position, the step, the resolved config with the model's config version, and
the versions of core and plugins. Files are written atomically (temporary file, fsync, rename) so a
crash never leaves a half-written checkpoint under the final name. Reading one migrates its config
to the installed model's version (``Model.migrate_config``), so loading and resuming see what the
saved config meant, never today's defaults in its gaps.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from gankit_core.errors import CheckpointError, ConfigError

# (checkpoint, note) pairs already warned of: a command that reads one checkpoint twice (export --format hub reads
# its header, then loads its networks) says so once
_MIGRATIONS_WARNED: set[tuple[Path, str]] = set()

FORMAT = "gankit-checkpoint-1"
LATEST = "latest"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, with the mode a plain ``open()`` would
    give (the umask's, or the replaced file's own). A failure names ``path`` and the reason, never the
    temporary file."""
    path = Path(path)
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), _plain_open_mode(path))
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        temporary = None
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as error:
        raise OSError(error.errno, f"cannot write ({error.strerror})", str(path)) from error
    finally:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)


def _plain_open_mode(path: Path) -> int:
    """The permission bits ``open(path, "wb")`` would leave: an existing file keeps its own, a new one gets
    0666 less the umask (mkstemp alone would make every file 0600)."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _flatten_optimizer(prefix: str, state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict:
    """Optimizer tensors go into ``tensors``; the JSON-able rest is returned."""
    plain_state: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        plain_state[str(index)] = {}
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}/{index}/{key}"] = value.detach().cpu().contiguous()
            else:
                plain_state[str(index)][key] = value
    return {"state": plain_state, "param_groups": state["param_groups"]}


def _unflatten_optimizer(prefix: str, plain: dict, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for index, values in plain["state"].items():
        state[int(index)] = dict(values)
    marker = prefix + "/"
    for name, tensor in tensors.items():
        if name.startswith(marker):
            index, key = name[len(marker) :].split("/", 1)
            state.setdefault(int(index), {})[key] = tensor
    return {"state": state, "param_groups": plain["param_groups"]}


def pack(
    *,
    model: str,
    step: int,
    modules: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    meta: dict[str, Any],
) -> bytes:
    """Serialise a training state; ``meta`` holds JSON-able values (config, versions, data position, ...)."""
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():  # names carry their prefix: "net/generator", "ema/generator"
        for key, value in module.state_dict().items():
            tensors[f"{name}/{key}"] = value.detach().cpu().contiguous()
    optimizer_meta = {
        name: _flatten_optimizer(f"optim/{name}", optimizer.state_dict(), tensors)
        for name, optimizer in optimizers.items()
    }
    rng = meta.pop("rng_tensors", {})
    for name, value in rng.items():
        tensors[f"rng/{name}"] = value.cpu().contiguous()
    header = {
        "format": FORMAT,
        "model": model,
        "step": str(step),
        "optimizers": json.dumps(optimizer_meta),
        **{key: json.dumps(value) for key, value in meta.items()},
    }
    model_class = registered_model(model)
    if model_class is not None:  # an unregistered model cannot be loaded by name, nor migrated: nothing to record
        header["config_version"] = str(model_class.config_version)
    return save_bytes(tensors, metadata=header)


def registered_model(name: str):
    """The Model class registered as ``name``, or None (a model trained as an instance, never registered)."""
    from gankit_core.plugins import get_registry

    entry = get_registry().lookup("model", name)
    return entry.load() if entry is not None else None


class Checkpoint:
    """A loaded checkpoint: tensors and decoded metadata, with the helpers to restore from it."""

    def __init__(self, path: Path, tensors: dict[str, torch.Tensor], header: dict[str, str]) -> None:
        self.path = path
        self.tensors = tensors
        self.header = header
        self.migration = None  # the MigratedConfig once migrate_config has run (None: not a registered model)

    @property
    def model(self) -> str:
        return self.header["model"]

    @property
    def step(self) -> int:
        return int(self.header["step"])

    @property
    def config_version(self) -> int:
        """The version of the model config the checkpoint holds (1: saved before versions were recorded)."""
        return int(self.header.get("config_version", 1))

    def migrate_config(self) -> None:
        """Bring the saved config to the installed model's config version, in place, with one warning naming every
        key filled in; ``migration`` keeps what was done. A config the model cannot read is refused."""
        model_class = registered_model(self.model)
        if model_class is None or "config" not in self.header:
            return
        try:
            self.migration = model_class.migrate_config(self.meta("config"), self.config_version)
        except ConfigError as error:
            raise CheckpointError(f"{self.path}: {error}") from None
        note = self.migration.describe(self.model, model_class.config_version)
        if note is not None and (self.path, note) not in _MIGRATIONS_WARNED:
            _MIGRATIONS_WARNED.add((self.path, note))
            print(f"warning: {self.path}: {note}", file=sys.stderr)
        self.header["config"] = json.dumps(self.migration.values)
        self.header["config_version"] = str(model_class.config_version)

    def meta(self, key: str, default: Any = None) -> Any:
        return json.loads(self.header[key]) if key in self.header else default

    def module_state(self, name: str, prefix: str = "net") -> dict[str, torch.Tensor]:
        marker = f"{prefix}/{name}/"
        state = {k[len(marker) :]: v for k, v in self.tensors.items() if k.startswith(marker)}
        if not state:
            raise CheckpointError(f"{self.path}: no weights for network '{name}' in this checkpoint")
        return state

    def has_module(self, name: str, prefix: str = "net") -> bool:
        marker = f"{prefix}/{name}/"
        return any(k.startswith(marker) for k in self.tensors)

    def load_module(self, name: str, module: torch.nn.Module, prefix: str = "net") -> None:
        try:
            module.load_state_dict(self.module_state(name, prefix))
        except RuntimeError as error:
            reason = str(error).splitlines()[0]
            raise CheckpointError(
                f"{self.path}: network '{name}' does not match this config ({reason}); "
                "was it trained with another image size or width?"
            ) from None

    def optimizer_state(self, name: str) -> dict[str, Any]:
        plain = self.meta("optimizers")[name]
        return _unflatten_optimizer(f"optim/{name}", plain, self.tensors)

    def rng(self, name: str) -> torch.Tensor | None:
        return self.tensors.get(f"rng/{name}")


def read(path: str | Path) -> Checkpoint:
    """Load a checkpoint file, refusing anything that is not a complete gankit checkpoint."""
    path = Path(path)
    if path.is_dir():
        path = resolve_latest(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found: {path}") from None
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read checkpoint ({error.strerror})") from None
    try:
        tensors = load_bytes(data)
        # load_bytes validated the layout; the metadata sits in the JSON header after an 8-byte length.
        header_length = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_length]).get("__metadata__") or {}
    except (SafetensorError, ValueError, RuntimeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({reason})") from None
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a gankit checkpoint (format {header.get('format')!r})")
    checkpoint = Checkpoint(path, tensors, header)
    checkpoint.migrate_config()
    return checkpoint


def resolve_latest(directory: Path) -> Path:
    """The checkpoint a run directory (or its checkpoints/ folder) points at through ``latest``."""
    folder = directory / "checkpoints" if (directory / "checkpoints").is_dir() else directory
    pointer = folder / LATEST
    if not pointer.is_file():
        raise CheckpointError(f"no checkpoint in {directory} (no {pointer.relative_to(directory.parent)} file)")
    return folder / pointer.read_text().strip()


def save(folder: Path, step: int, data: bytes, keep: int) -> Path:
    """Write ``step-NNNNNN.safetensors`` atomically, point ``latest`` at it, keep the newest ``keep``."""
    path = folder / f"step-{step:06d}.safetensors"
    write_atomic(path, data)
    write_atomic(folder / LATEST, (path.name + "\n").encode())
    if keep > 0:
        existing = sorted(folder.glob("step-*.safetensors"))
        for old in existing[:-keep]:
            old.unlink(missing_ok=True)
    return path
