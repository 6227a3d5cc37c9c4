"""The typed registry that plugins fill: every entry has a kind, a name and the plugin that gave it."""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gankit_core.errors import DuplicateRegistrationError, UnknownNameError, did_you_mean

KINDS = (
    "model",
    "generator",
    "discriminator",
    "layer",
    "loss",
    "dataset",
    "metric",
    "landmark-detector",
    "callback",
)
COMPONENT_KINDS = ("generator", "discriminator", "layer", "loss")


@dataclass(frozen=True)
class PluginRef:
    """The distribution that registered an entry."""

    name: str
    distribution: str
    version: str

    def __str__(self) -> str:
        return f"{self.distribution} {self.version}"


@dataclass(frozen=True)
class Entry:
    """One registered thing. ``target`` is the object, or a lazy ``"module:attribute"`` string."""

    kind: str
    name: str
    target: Any
    plugin: PluginRef
    summary: str
    paper: str = ""
    _loaded: dict = field(default_factory=dict, compare=False, repr=False)

    def load(self) -> Any:
        """The registered object, importing it on first use when it was given as a string."""
        if not isinstance(self.target, str):
            return self.target
        if "obj" not in self._loaded:
            module_name, _, attribute = self.target.partition(":")
            obj = importlib.import_module(module_name)
            for part in attribute.split(".") if attribute else ():
                obj = getattr(obj, part)
            self._loaded["obj"] = obj
        return self._loaded["obj"]

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "name": self.name,
            "plugin": self.plugin.distribution,
            "version": self.plugin.version,
            "summary": self.summary,
            "paper": self.paper,
        }


class Registry:
    """Entries by (kind, name). Adding a (kind, name) twice is an error naming both plugins."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], Entry] = {}
        # Plugins that failed to load: (plugin, its error, the (kind, name)s it had registered before failing),
        # so a lookup of one of their names says the plugin is broken instead of "unknown".
        self.broken: list[tuple[PluginRef, str, set[tuple[str, str]]]] = []

    def add(self, entry: Entry) -> None:
        if entry.kind not in KINDS:
            raise ValueError(f"unknown registry kind {entry.kind!r}; kinds are {', '.join(KINDS)}")
        if not entry.summary:
            raise ValueError(f"{entry.kind} {entry.name!r} from {entry.plugin} has no summary")
        key = (entry.kind, entry.name)
        if key in self._entries:
            first = self._entries[key]
            raise DuplicateRegistrationError(
                f"{entry.kind} '{entry.name}' is registered by both {first.plugin} and {entry.plugin}"
            )
        self._entries[key] = entry

    def lookup(self, kind: str, name: str) -> Entry | None:
        """The entry registered as ``kind`` ``name``, or None."""
        return self._entries.get((kind, name))

    def discard(self, entry: Entry) -> None:
        """Remove ``entry`` if it is the one registered under its kind and name."""
        if self._entries.get((entry.kind, entry.name)) is entry:
            del self._entries[(entry.kind, entry.name)]

    def get(self, kind: str, name: str) -> Entry:
        try:
            return self._entries[(kind, name)]
        except KeyError:
            broken = self._broken_owner(kind, name)
            if broken is not None:
                raise UnknownNameError(broken) from None
            known = [n for (k, n) in self._entries if k == kind]
            hint = did_you_mean(name, known)
            if not hint and self.broken:
                names = ", ".join(ref.distribution for ref, _, _ in self.broken)
                hint = f" (plugins that failed to load: {names}; 'gankit plugins' shows why)"
            raise UnknownNameError(f"unknown {kind} '{name}'{hint}") from None

    def _broken_owner(self, kind: str, name: str) -> str | None:
        """The message for a name that a broken plugin gave (or would have: one named after it failed to import)."""
        for ref, error, names in self.broken:
            if (kind, name) in names or name in (ref.name, ref.distribution.removeprefix("gankit-")):
                return (f"{kind} '{name}' comes from plugin {ref.distribution}, which failed to load ({error}); "
                        "'gankit plugins' shows every plugin's state")
        return None

    def find(self, name: str) -> list[Entry]:
        """Every entry called ``name``, of any kind (``gankit info`` takes a bare name)."""
        found = [e for (k, n), e in self._entries.items() if n == name]
        if not found:
            names = {n for (_, n) in self._entries}
            raise UnknownNameError(f"nothing is registered as '{name}'{did_you_mean(name, names)}")
        return sorted(found, key=lambda e: KINDS.index(e.kind))

    def list(self, pattern: str = "*", kind: str | None = None) -> list[Entry]:
        if kind is not None and kind not in KINDS:
            raise UnknownNameError(f"unknown kind '{kind}'{did_you_mean(kind, KINDS)}")
        return sorted(
            (
                e
                for e in self._entries.values()
                if (kind is None or e.kind == kind) and fnmatch.fnmatchcase(e.name, pattern)
            ),
            key=lambda e: (KINDS.index(e.kind), e.name),
        )

    def names(self, kind: str) -> list[str]:
        return [e.name for e in self.list(kind=kind)]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self._entries)


def make_register(kind: str | None, plugin: PluginRef, sink: Callable[[Entry], None]) -> Callable[..., None]:
    """The ``register`` callback handed to a hook: fixed ``kind`` (models, datasets...) or a kind argument."""

    def register_fixed(name: str, target: Any, *, summary: str, paper: str = "") -> None:
        sink(Entry(kind, name, target, plugin, summary, paper))

    def register_component(kind: str, name: str, target: Any, *, summary: str, paper: str = "") -> None:
        if kind not in COMPONENT_KINDS:
            raise ValueError(f"component kind must be one of {', '.join(COMPONENT_KINDS)}, not {kind!r}")
        sink(Entry(kind, name, target, plugin, summary, paper))

    return register_fixed if kind is not None else register_component
