"""gankit: a plugin-based GAN toolkit for PyTorch.

Importing this package is cheap (no torch): the Python API and the training helpers a model uses (``frozen``,
``ImagePool``) are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

_API = (
    "list_models",
    "list_entries",
    "create_model",
    "create_component",
    "get_entry",
    "train",
    "load_checkpoint",
    "load_pretrained",
    "sample",
)
# What a model's training step may use besides StepContext: public here, wherever the engine keeps them.
_TRAINING_HELPERS = ("frozen", "ImagePool")

__all__ = ["ImagePool", "__version__", "create_component", "create_model", "frozen", "get_entry", "list_entries",
           "list_models", "load_checkpoint", "load_pretrained", "sample", "train"]

if TYPE_CHECKING:
    from gankit_core.api import (
        create_component,
        create_model,
        get_entry,
        list_entries,
        list_models,
        load_checkpoint,
        load_pretrained,
        sample,
        train,
    )
    from gankit_core.engine.helpers import ImagePool, frozen


def __getattr__(name: str):
    if name in _API:
        from gankit_core import api

        return getattr(api, name)
    if name in _TRAINING_HELPERS:
        from gankit_core.engine import helpers

        return getattr(helpers, name)
    raise AttributeError(f"module 'gankit_core' has no attribute {name!r}")
