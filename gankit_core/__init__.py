"""gankit: a plugin-based GAN toolkit for PyTorch.

Importing this package is cheap (no torch): the Python API below is loaded on first use.
"""

from __future__ import annotations

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

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from gankit_core import api

        return getattr(api, name)
    raise AttributeError(f"module 'gankit_core' has no attribute {name!r}")
