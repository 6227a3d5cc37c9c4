"""Datasets: uint8 tensors by field, opened from a spec (``synthetic-faces``, ``folder:PATH``, ...).

The synthetic faces are rendered once, cached on disk and held in memory. Folder datasets are
decoded once per image size into the cache and their images read from there on demand (a
``CachedImages`` field that indexes like a tensor), so memory does not grow with the folder; labels
and landmarks are in-memory tensors. Normalisation runs on the training device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gankit_core.errors import DataError


@dataclass
class Dataset:
    """Equal-length fields by name: tensors, or images read on demand from the cache (indexing either
    gives a tensor). ``image`` is uint8, N x 3 x H x W; other fields as documented."""

    name: str
    fields: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(next(iter(self.fields.values())).shape[0])

    def take(self, indices) -> dict[str, Any]:
        return {key: value[indices] for key, value in self.fields.items()}

    def require(self, needed: tuple[str, ...], model: str) -> None:
        missing = [f for f in needed if f not in self.fields]
        if missing:
            raise DataError(
                f"model '{model}' needs {', '.join(missing)} from its data, which dataset '{self.name}' does not give"
            )


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``name[:argument]`` -> (name, argument). A bare existing folder path means ``folder:PATH``."""
    name, sep, argument = spec.partition(":")
    return name, (argument if sep else None)


def parse_options(argument: str | None, allowed: dict[str, type], where: str) -> dict[str, Any]:
    """``"style=cartoon,n=512"`` -> {"style": "cartoon", "n": 512}, checked against ``allowed``."""
    from gankit_core.config import parse_value
    from gankit_core.errors import did_you_mean

    options: dict[str, Any] = {}
    if not argument:
        return options
    for item in argument.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise DataError(f"{where}: option {item!r} is not key=value")
        if key not in allowed:
            raise DataError(f"{where}: unknown option '{key}'{did_you_mean(key, allowed)}")
        parsed = parse_value(value.strip())
        kind = allowed[key]
        if kind is float and isinstance(parsed, int):
            parsed = float(parsed)
        if not isinstance(parsed, kind) or isinstance(parsed, bool) and kind is not bool:
            raise DataError(f"{where}: option '{key}' must be {kind.__name__}, not {value!r}")
        options[key] = parsed
    return options


def open_dataset(spec: str, image_size: int, seed: int = 0, strict: bool = False, registry=None) -> Dataset:
    """Build the dataset a spec names, through the registry (plugins can add datasets).

    A factory is called as ``factory(argument, image_size=, seed=, strict=)``; ``strict`` turns an
    unreadable image from a skipped-with-a-warning into an error.
    """
    from pathlib import Path

    if registry is None:
        from gankit_core.plugins import get_registry

        registry = get_registry()
    name, argument = parse_spec(spec)
    known = registry.names("dataset")
    if name not in known and argument is None and ("/" in spec or Path(spec).exists()):
        name, argument = "folder", spec
    if name not in known and argument is None:
        from gankit_core.errors import UnknownNameError, did_you_mean

        if not did_you_mean(name, known):  # not a misspelt dataset: most often a folder that is not there
            raise UnknownNameError(f"'{spec}' is neither a dataset ('gankit list --kind dataset' lists them) nor an "
                                   "existing folder")
    factory = registry.get("dataset", name).load()
    return factory(argument, image_size=image_size, seed=seed, strict=strict)
