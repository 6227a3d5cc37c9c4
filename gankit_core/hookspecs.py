"""The pluggy hook specifications: the whole plugin API of gankit.

Every hook hands the plugin a ``register`` callback (the style of simonw/llm). pluggy passes an
implementation only the arguments it names, so keyword arguments can be added here later without
breaking plugins written against today's API. Targets may be given as ``"module:attribute"``
strings so that a plugin's hook module never imports torch.
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "gankit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_models(register):
    """Register models (training recipes): ``register(name, target, *, summary, paper="")``."""


@hookspec
def register_components(register):
    """Register generators, discriminators, layers and losses: ``register(kind, name, target, *, summary, paper="")``."""


@hookspec
def register_datasets(register):
    """Register datasets: ``register(name, target, *, summary, paper="")``; target(arg, image_size, seed) builds one."""


@hookspec
def register_metrics(register):
    """Register metrics: ``register(name, target, *, summary, paper="")``."""


@hookspec
def register_landmark_detectors(register):
    """Register face landmark detectors: ``register(name, target, *, summary, paper="")``."""


@hookspec
def register_callbacks(register):
    """Register training callbacks (trackers): ``register(name, factory, *, summary, paper="")``; factory() -> Callback."""


@hookspec
def register_commands(register):
    """Register extra CLI commands: ``register(command)`` with a ``click.Command``."""
