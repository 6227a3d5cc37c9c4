"""Config parsing: dataclass configs filled from TOML files and ``--set key=value`` (parsed, never evaluated)."""

from __future__ import annotations

import dataclasses
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from gankit_core.errors import ConfigError, did_you_mean

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_BARE_WORD = re.compile(r"^[A-Za-z0-9_.:/+\-=,~]+$")


def parse_value(text: str) -> Any:
    """A ``--set`` value as a TOML literal (``3``, ``2e-4``, ``[0.5, 0.9]``, ``true``, ``"x"``); a bare word is a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        if _BARE_WORD.match(text):
            return text
        raise ConfigError(f"cannot parse value {text!r}: use a TOML literal, e.g. 3, 0.5, true, \"text\", [1, 2]") from None


def parse_assignments(assignments: typing.Iterable[str]) -> dict[str, Any]:
    """``["a=1", "b.c=x"]`` -> ``{"a": 1, "b.c": "x"}``."""
    out: dict[str, Any] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set takes key=value, not {item!r}")
        out[key] = parse_value(value.strip())
    return out


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    except UnicodeDecodeError:  # an image or other binary file named by mistake
        raise ConfigError(f"{path}: not valid TOML (not UTF-8 text)") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, key)
            except ConfigError as error:
                errors.append(error)
        raise errors[0]
    if annotation is typing.Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif origin is tuple:
        if isinstance(value, (list, tuple)):
            inner = [a for a in args if a is not Ellipsis]
            if args and args[-1] is not Ellipsis and len(value) != len(args):
                raise ConfigError(f"{key} takes {len(args)} values, not {len(value)}")
            kinds = inner if len(inner) == len(value) else [inner[0] if inner else typing.Any] * len(value)
            return tuple(_coerce(v, t, key) for v, t in zip(value, kinds, strict=True))
    elif origin is list:
        if isinstance(value, (list, tuple)):
            return [_coerce(v, args[0] if args else typing.Any, key) for v in value]
    else:
        return value
    expected = getattr(annotation, "__name__", str(annotation))
    raise ConfigError(f"{key} must be {expected}, not {value!r}")


def resolve_config(config_class: type, values: dict[str, Any], owner: str = "") -> Any:
    """Build ``config_class`` from ``values``, checking names and types, then its ``validate()``."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    hints = typing.get_type_hints(config_class)
    where = f" for model '{owner}'" if owner else ""
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"unknown config key '{key}'{where}{did_you_mean(key, fields)}")
        kwargs[key] = _coerce(value, hints[key], key)
    config = config_class(**kwargs)
    check_sizes_and_rates(config)
    validate = getattr(config, "validate", None)
    if validate is not None:
        validate()
    return config


def is_size_field(name: str) -> bool:
    """A network width, feature or channel count, or the latent size: ``g_width``, ``d_features``, ``latent_dim``."""
    return any(word in name for word in ("width", "features", "channels")) or name.endswith("latent_dim")


def is_rate_field(name: str) -> bool:
    """A learning rate: ``lr``, ``g_lr``, ``d_lr``."""
    return name == "lr" or name.endswith("_lr")


def check_sizes_and_rates(config: Any) -> None:
    """Every model's widths and latent size are at least 1 and its learning rates positive, checked by field name
    before anything is built: a width of 0 fails only inside the first convolution (a oneDNN error after the
    progress bar), and a rate of 0 trains to the end learning nothing."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if is_size_field(field.name) and isinstance(value, int) and value < 1:
            raise ConfigError(f"{field.name} must be at least 1, not {value}")
        if is_rate_field(field.name) and not value > 0:
            raise ConfigError(f"{field.name} must be a positive learning rate, not {value}")


def config_fields(config_class: type) -> list[tuple[str, str, Any]]:
    """(name, type, default) of each field, for ``gankit info``."""
    hints = typing.get_type_hints(config_class)
    rows = []
    for f in dataclasses.fields(config_class):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        annotation = hints[f.name]
        rows.append((f.name, getattr(annotation, "__name__", str(annotation)), default))
    return rows


def to_toml_value(value: Any) -> Any:
    """Tuples as lists, None dropped by the caller: what tomli_w can write."""
    if isinstance(value, tuple):
        return [to_toml_value(v) for v in value]
    if isinstance(value, dict):
        return {k: to_toml_value(v) for k, v in value.items() if v is not None}
    return value
