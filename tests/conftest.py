"""Shared fixtures: a per-session cache for rendered synthetic faces, and a fake installed plugin."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def synthetic_cache(tmp_path_factory):
    """Rendered datasets are cached under a session folder unless CI already named one."""
    if "GANKIT_CACHE" not in os.environ:
        os.environ["GANKIT_CACHE"] = str(tmp_path_factory.mktemp("gankit-cache"))
    yield


# A tiny DCGAN (32 px, 8-wide networks) for the tests of commands that take a finished run.
TINY_DCGAN = {"image_size": 32, "batch_size": 4, "g_features": 8, "d_features": 8, "latent_dim": 16,
              "data": "synthetic-faces:n=16,identities=8"}


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory):
    """A DCGAN run that finished its 1 step (TINY_DCGAN)."""
    from gankit_core import api

    out = tmp_path_factory.mktemp("runs") / "dcgan"
    api.train(api.create_model("dcgan", **TINY_DCGAN), out=out, steps=1, device="cpu", precision="fp32",
              progress=False, sample_every=100)
    return out


def make_distribution(root: Path, name: str, module_source: str, entry_point: str | None = None) -> Path:
    """An installed-looking distribution on ``root``: a module plus a dist-info with a gankit entry point."""
    module = name.replace("-", "_")
    (root / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = root / f"{module}-0.3.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.3.0\n")
    (info / "entry_points.txt").write_text(f"[gankit]\n{entry_point or name} = {module}\n")
    return root


@pytest.fixture
def fake_plugins(tmp_path, monkeypatch):
    """Install fake plugin distributions for this test: ``fake_plugins(name, source)``."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(root), *sys.path]))

    def add(name: str, source: str) -> Path:
        return make_distribution(root, name, source)

    return add
