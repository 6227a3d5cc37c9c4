"""Plugin discovery through the ``gankit`` entry-point group; a broken plugin is recorded, never fatal."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from gankit_core import hookspecs
from gankit_core.errors import GankitError
from gankit_core.registry import Entry, PluginRef, Registry, make_register

ENTRY_POINT_GROUP = "gankit"
LOAD_VARIABLE = "GANKIT_LOAD_PLUGINS"

# hook name -> the fixed registry kind its register callback fills (None: the plugin names the kind)
REGISTRY_HOOKS: dict[str, str | None] = {
    "register_models": "model",
    "register_components": None,
    "register_datasets": "dataset",
    "register_metrics": "metric",
    "register_landmark_detectors": "landmark-detector",
    "register_callbacks": "callback",
}
COMMAND_HOOK = "register_commands"
ALL_HOOKS = (*REGISTRY_HOOKS, COMMAND_HOOK)


@dataclass
class PluginInfo:
    """What ``gankit plugins`` shows of one plugin."""

    ref: PluginRef
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    requires: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # entries dropped because another plugin has the name

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self, requirements: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.ref.name,
            "distribution": self.ref.distribution,
            "version": self.ref.version,
            "hooks": self.hooks,
            "error": self.error,
            "warnings": self.warnings,
        }
        if requirements:
            out["requires"] = self.requires
        return out


@dataclass
class PluginSet:
    """The loaded plugins: the pluggy manager, the filled registry, extra CLI commands."""

    manager: pluggy.PluginManager
    registry: Registry
    plugins: list[PluginInfo]
    commands: list[Any]

    @property
    def broken(self) -> list[PluginInfo]:
        return [p for p in self.plugins if not p.ok]

    @property
    def warnings(self) -> list[str]:
        """One line per duplicate name, naming both plugins (each appears once, on the plugin whose entry lost)."""
        return [warning for p in self.plugins for warning in p.warnings]


def new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def _core_ref() -> PluginRef:
    from gankit_core import __version__

    return PluginRef("gankit", "gankit", __version__)


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _selection() -> set[str] | None:
    raw = os.environ.get(LOAD_VARIABLE)
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def _entry_point_plugins() -> list[tuple[metadata.EntryPoint, PluginRef]]:
    """Installed plugins, first-installed first: when two give the same name, the one installed earlier (the
    built-in plugins, installed with gankit) keeps it."""
    found = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else ep.name
        version = dist.version if dist is not None else "?"
        found.append((_installed_at(dist), ep, PluginRef(ep.name, dist_name, version)))
    return [(ep, ref) for _, ep, ref in sorted(found, key=lambda item: (item[0], item[2].name))]


def _installed_at(dist: metadata.Distribution | None) -> float:
    """When a distribution was installed: the modification time of its metadata folder (inf when unknown)."""
    location = getattr(dist, "_path", None)  # PathDistribution's .dist-info / .egg-info folder
    try:
        return os.stat(location).st_mtime if location is not None else math.inf
    except OSError:
        return math.inf


def _requirements(distribution: str) -> list[str]:
    try:
        return list(metadata.requires(distribution) or [])
    except metadata.PackageNotFoundError:
        return []


def load_plugins(
    extra: list[tuple[object, PluginRef]] | None = None,
    *,
    entry_points: bool = True,
    builtins: bool = True,
) -> PluginSet:
    """Load core's built-ins, every entry-point plugin (or those in GANKIT_LOAD_PLUGINS) and ``extra``.

    Each plugin is imported, validated and asked to register on its own: one that raises or names an
    unknown hook is recorded with its error and contributes nothing, while every other plugin keeps
    working. A name another plugin already has costs only that entry: the first-installed plugin's is
    kept (core's and the built-in plugins' before any installed later), and a warning names both.
    """
    manager = new_manager()
    candidates: list[tuple[object, PluginRef]] = []
    infos: list[PluginInfo] = []
    if builtins:
        from gankit_core import builtins as core_builtins

        candidates.append((core_builtins, _core_ref()))
    if entry_points:
        selection = _selection()
        for ep, ref in _entry_point_plugins():
            if selection is not None and ref.name not in selection and ref.distribution not in selection:
                continue
            try:
                candidates.append((ep.load(), ref))
            except Exception as error:  # a plugin that cannot import must not take the CLI down
                infos.append(PluginInfo(ref, error=f"failed to import: {_describe(error)}"))
    candidates.extend(extra or [])

    registry = Registry()
    commands: list[Any] = []
    for module, ref in candidates:
        info = PluginInfo(ref, requires=_requirements(ref.distribution))
        infos.append(info)
        try:
            manager.register(module, name=ref.name)
            manager.check_pending()
        except pluggy.PluginValidationError as error:
            if manager.is_registered(module):
                manager.unregister(module)
            info.error = f"invalid plugin: {error}"
            continue
        except ValueError as error:  # registered twice under one name
            info.error = f"invalid plugin: {error}"
            continue
        staged: list[Entry] = []
        staged_commands: list[Any] = []
        try:
            for hook_name in ALL_HOOKS:
                for impl in getattr(manager.hook, hook_name).get_hookimpls():
                    if impl.plugin is not module:
                        continue
                    info.hooks.append(hook_name)
                    if hook_name == COMMAND_HOOK:
                        register = staged_commands.append
                    else:
                        register = make_register(REGISTRY_HOOKS[hook_name], ref, staged.append)
                    # Called one plugin at a time (so a failure is that plugin's alone), with only the
                    # arguments the implementation names, as pluggy itself would.
                    offered = {"register": register}
                    impl.function(**{name: offered[name] for name in impl.argnames if name in offered})
            for entry in staged:
                first = registry.lookup(entry.kind, entry.name)
                if first is not None and first.plugin != ref:
                    # A clash costs only the duplicate entry: both plugins keep everything else.
                    info.warnings.append(f"{entry.kind} '{entry.name}' is registered by both {first.plugin} and "
                                         f"{ref}; {first.plugin}'s is used")
                    continue
                registry.add(entry)  # a name registered twice by one plugin is that plugin's bug: it fails
        except Exception as error:
            for entry in staged:  # take back what this plugin managed to add before failing
                registry.discard(entry)
            info.warnings.clear()
            manager.unregister(module)
            info.error = str(error) if isinstance(error, GankitError) else _describe(error)
            registry.broken.append((ref, info.error, {(e.kind, e.name) for e in staged}))
            continue
        commands.extend(staged_commands)
    for info in infos:
        if info.error is not None and all(ref is not info.ref for ref, _, _ in registry.broken):
            registry.broken.append((info.ref, info.error, set()))
    infos.sort(key=lambda info: (info.ref.name != "gankit", info.ref.name))
    return PluginSet(manager, registry, infos, commands)


_CURRENT: PluginSet | None = None


def get_plugins() -> PluginSet:
    """The process-wide plugin set, loaded on first use."""
    global _CURRENT
    if _CURRENT is None:
        _CURRENT = load_plugins()
    return _CURRENT


def set_plugins(plugin_set: PluginSet | None) -> PluginSet | None:
    """Replace the process-wide plugin set (tests); returns the previous one."""
    global _CURRENT
    previous, _CURRENT = _CURRENT, plugin_set
    return previous


def get_registry() -> Registry:
    return get_plugins().registry
