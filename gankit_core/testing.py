"""Testing support for plugin authors, loaded by pytest through the ``pytest11`` entry point.

- ``registered_plugin(obj)``: a context manager that adds a throwaway plugin (a module or an object
  with hook implementations) to the process-wide plugin set, and takes it away afterwards.
- ``gankit_only`` fixture: ``gankit_only("my-plugin")`` loads core plus just that plugin for the test.
- ``check_model_contract(name, tmp_path, **overrides)``: builds a model's networks at a tiny size,
  trains a few steps on tiny data (through every stage when the model has several), saves and reloads a
  checkpoint with every inference network (EMA weights included), runs each inference network on the model's
  ``example_inputs`` for it (what ``gankit export`` traces), generates and samples from it, and finds the model
  in ``gankit list``. A plugin's test suite calls it once per model.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gankit_core.plugins import PluginSet, load_plugins, set_plugins
from gankit_core.registry import PluginRef

TINY_DATA = "synthetic-faces:n=32,identities=16"


@contextlib.contextmanager
def registered_plugin(plugin: object, name: str = "throwaway", version: str = "0.0.0",
                      entry_points: bool = True) -> Iterator[PluginSet]:
    """Make ``plugin`` (hook implementations) part of the process-wide plugin set inside the block."""
    fresh = load_plugins(extra=[(plugin, PluginRef(name, name, version))], entry_points=entry_points)
    previous = set_plugins(fresh)
    try:
        yield fresh
    finally:
        set_plugins(previous)


@contextlib.contextmanager
def only_plugins(*names: str) -> Iterator[PluginSet]:
    """Core plus just the named plugins (entry-point or distribution names), process-wide, inside the block."""
    saved = os.environ.get("GANKIT_LOAD_PLUGINS")
    os.environ["GANKIT_LOAD_PLUGINS"] = ",".join(names)
    try:
        fresh = load_plugins()
    finally:
        if saved is None:
            del os.environ["GANKIT_LOAD_PLUGINS"]
        else:
            os.environ["GANKIT_LOAD_PLUGINS"] = saved
    previous = set_plugins(fresh)
    try:
        yield fresh
    finally:
        set_plugins(previous)


@pytest.fixture
def gankit_only():
    """``gankit_only("name", ...)`` -> a PluginSet of core plus those plugins, active for the rest of the test."""
    stack = contextlib.ExitStack()

    def activate(*names: str) -> PluginSet:
        return stack.enter_context(only_plugins(*names))

    with stack:
        yield activate


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def check_model_contract(name: str, tmp_path: Path, steps: int = 2, precision: str = "fp32",
                         **overrides: Any):
    """Build, train ``steps`` steps on tiny data, checkpoint, reload and sample model ``name``.

    ``overrides`` shrink the model (``image_size=32``, ``batch_size=4``, widths, and for a model with stages
    their lengths, which then replace ``steps``); the data defaults to 32 synthetic faces. Returns the
    RunResult. Fails the test with a message on any broken contract.
    """
    import torch
    from click.testing import CliRunner

    from gankit_core import api
    from gankit_core.cli import cli
    from gankit_core.engine import Trainer

    listed = CliRunner().invoke(cli, ["list", "--kind", "model", "--json"])
    assert listed.exit_code == 0, listed.output
    assert name in [row["name"] for row in json.loads(listed.output)], f"model '{name}' is not in 'gankit list'"

    values = {"batch_size": 4, "data": TINY_DATA, **overrides}
    model = api.create_model(name, **values)
    stage_names = [stage.name for stage in model.stages()]
    staged = len(stage_names) > 1  # then every stage runs for the length its (shrunk) config gives
    settings = api.train_settings({"steps": None if staged else steps, "device": "cpu", "precision": precision,
                                   "progress": False, "log_every": 1, "num_samples": 4})
    result = Trainer(model, settings, run_dir=tmp_path / f"run-{name}").fit()
    steps = result.step
    assert steps >= 1, "the model trained no step"
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows, "no metrics were logged"
    if staged:
        entered = [row["stage"] for row in rows if row.get("event") == "stage"]
        assert entered == stage_names, f"stages run {entered}, declared {stage_names}"
    for row in rows:
        bad = {k: v for k, v in row.items() if isinstance(v, float) and not _finite(v)}
        assert not bad, f"non-finite scalars at step {row['step']}: {bad}"
    assert result.checkpoint is not None and result.checkpoint.is_file(), "no checkpoint was written"
    assert (result.run_dir / "samples" / f"step-{steps:06d}.png").is_file(), "no sample grid was written"

    from gankit_core.engine import checkpoint as ckpt

    saved = ckpt.read(result.checkpoint)
    loaded = api.load_checkpoint(result.checkpoint, model=name)
    for network in model.inference_networks:
        assert network in loaded.nets, f"inference network '{network}' is not among the built networks"
        if model.config.ema_decay > 0:
            assert saved.has_module(network, "ema"), f"no EMA weights saved for inference network '{network}'"
    for network, module in loaded.nets.items():
        prefix = "ema" if saved.has_module(network, "ema") and network in model.inference_networks else "net"
        for key, value in module.state_dict().items():
            stored = saved.tensors[f"{prefix}/{network}/{key}"]
            assert torch.equal(value.cpu(), stored), f"network '{network}' did not reload {key}"
    size = model.config.image_size
    for network in model.inference_networks:  # what gankit export and gankit info --layers trace with
        with torch.no_grad():
            traced = loaded.nets[network](*model.example_inputs(network))
        # an image at the model's size; not always RGB (paper 003's fusion module makes a 1-channel landmark image)
        assert traced.dim() == 4 and traced.shape[2:] == (size, size), (
            f"inference network '{network}' on example_inputs('{network}') gave shape {tuple(traced.shape)}")
    generated = loaded.generate(2)
    assert generated.shape == (2, 3, size, size), f"generate(2) gave shape {tuple(generated.shape)}"
    images = loaded.sample(2)
    columns = model.sample_columns or 1
    assert images.shape == (2 * columns, 3, size, size), (
        f"sample(2) gave {tuple(images.shape)}, expected 2 rows of sample_columns={columns} images")
    for tensor in (generated, images):
        assert torch.isfinite(tensor).all() and tensor.min() >= -1 and tensor.max() <= 1
    return result


def check_documented_translation_run(name: str, tmp_path: Path, a2b_ssim: float, b2a_ssim: float,
                                     kid_ahead: tuple[str, ...] = ()) -> None:
    """The documented ``cpu`` run of translation model ``name`` (ugatit, cyclegan), trained and evaluated on 128
    held-out faces per direction: ahead of the identity everywhere, ahead of the classical tool of each direction
    (the cartoon filter; closing + blur + grain) on SSIM and PSNR against the twins, within 0.03 of its
    documented twin SSIM (``a2b_ssim``, ``b2a_ssim``), and below the classical tool's KID in the directions
    ``kid_ahead`` names (the documented runs' other directions do not get there). A slow test: 10-15 minutes on
    a 2-core CPU."""
    from gankit_core import api

    steps = api.get_entry("model", name).load().presets["cpu"].settings["steps"]
    result = api.train(api.create_model(name, preset="cpu"), steps=steps, out=tmp_path, progress=False)
    scores = api.evaluate(result.checkpoint, ["translation"], count=128)
    for direction in ("a2b", "b2a"):
        assert scores[f"{direction}/kid"] < scores[f"{direction}/identity_kid"], direction
        assert scores[f"{direction}/ssim"] > scores[f"{direction}/identity_ssim"] + 0.15, direction
        assert scores[f"{direction}/psnr"] > scores[f"{direction}/identity_psnr"] + 3, direction
    assert scores["a2b/ssim"] > scores["a2b/cartoon_filter_ssim"] and scores["a2b/psnr"] > scores["a2b/cartoon_filter_psnr"]
    assert scores["b2a/ssim"] > scores["b2a/smooth_noise_ssim"] and scores["b2a/psnr"] > scores["b2a/smooth_noise_psnr"]
    assert scores["a2b/ssim"] > a2b_ssim - 0.03 and scores["b2a/ssim"] > b2a_ssim - 0.03
    from gankit_core.translation import BUILT_IN_STYLES, CLASSICAL

    for direction in kid_ahead:
        tool = CLASSICAL[BUILT_IN_STYLES[direction]][0]  # eval's name for the direction's classical tool
        assert scores[f"{direction}/kid"] < scores[f"{direction}/{tool}_kid"], (direction, scores)


def check_short_cpu_run_beats_classical(name: str, tmp_path: Path, steps: int, ssim_margin: float,
                                        psnr_margins: dict[str, float], count: int = 64, **overrides: Any) -> None:
    """A translation model's ``cpu`` preset trained ``steps`` steps (EMA off: a 0.995 average needs more steps; 256
    faces a domain, which render in seconds) is ahead of each direction's classical tool on ``count`` held-out
    faces: twin SSIM by more than ``ssim_margin``, twin PSNR by more than ``psnr_margins[direction]`` dB.
    ``overrides``: config values set over the preset's."""
    import torch

    from gankit_core import api
    from gankit_core.data.synthetic_dataset import translation_twins
    from gankit_core.images import to_uint8, to_unit
    from gankit_core.metrics.image_quality import psnr, ssim
    from gankit_core.translation import BUILT_IN_STYLES, CLASSICAL

    model = api.create_model(name, preset="cpu", **{"ema_decay": 0.0, "data": "synthetic-unpaired:n=256", **overrides})
    loaded = api.load_checkpoint(api.train(model, steps=steps, out=tmp_path, progress=False).checkpoint)
    photos, cartoons = (torch.from_numpy(faces) for faces in translation_twins(1, count, 64, BUILT_IN_STYLES["a2b"]))
    scores = {}
    for direction, source, twin in (("a2b", photos, cartoons), ("b2a", cartoons, photos)):
        classical = CLASSICAL[BUILT_IN_STYLES[direction]][1]  # the tool gankit eval compares the direction with
        with torch.no_grad():
            translated = to_uint8(loaded.model.translate(loaded.nets, to_unit(source), direction).float())
        for method, images in (("", translated), ("classical_", classical(source))):
            scores[f"{direction}/{method}ssim"] = float(ssim(images, twin, (0, 255)).mean())
            scores[f"{direction}/{method}psnr"] = float(psnr(images, twin, (0, 255)).mean())
    print(f"{name}, {steps} cpu steps:", {key: round(value, 4) for key, value in scores.items()})  # pytest -s shows it
    for direction, psnr_margin in psnr_margins.items():
        assert scores[f"{direction}/ssim"] > scores[f"{direction}/classical_ssim"] + ssim_margin, (direction, scores)
        assert scores[f"{direction}/psnr"] > scores[f"{direction}/classical_psnr"] + psnr_margin, (direction, scores)
