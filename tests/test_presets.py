"""Presets: named configurations a model declares beside its defaults (``gankit run MODEL --preset NAME``):
listing, applying, overriding, recording, refusing an unknown one."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from gankit_core import api
from gankit_core.cli import cli
from gankit_core.config import read_toml
from gankit_core.interfaces import PRESET_SETTINGS
from gankit_core.plugins import get_registry

ROOT = Path(__file__).resolve().parents[1]
TINY_DCGAN = ["--image-size", "32", "--batch-size", "8", "--set", "g_features=8", "--set", "d_features=8",
              "--set", "latent_dim=16", "--data", "synthetic-faces:n=32,identities=8"]


def gankit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gankit_core", *args], capture_output=True, text=True)


def test_every_model_has_a_paper_preset_and_every_preset_builds_a_valid_config():
    for entry in get_registry().list(kind="model"):
        model_class = entry.load()
        assert "paper" in model_class.presets and not model_class.presets["paper"].overrides, entry.name
        fields = {field.name for field in dataclasses.fields(model_class.Config)}
        for name, preset in model_class.presets.items():
            assert preset.summary and "\n" not in preset.summary + preset.measured, (entry.name, name)
            assert set(preset.overrides) <= fields | set(PRESET_SETTINGS), (entry.name, name)
            assert api.create_model(entry.name, preset=name).preset == name  # its values pass the config's checks


def test_every_cpu_preset_says_what_it_measured_and_where():
    declared = {entry.name: entry.load().presets for entry in get_registry().list(kind="model")}
    assert {"cregan", "dcgan", "expression"} <= {name for name, presets in declared.items() if "cpu" in presets}
    for name, presets in declared.items():
        if "cpu" in presets:
            pages = re.findall(r"docs/[\w/.-]+\.md", presets["cpu"].measured)
            assert pages and all((ROOT / page).is_file() for page in pages), (name, presets["cpu"].measured)


def test_a_preset_applies_its_config_and_its_train_loop_settings():
    model = api.create_model("cregan", preset="cpu")
    c = model.config
    assert (c.image_size, c.batch_size, c.g_width, c.d_width) == (64, 8, 32, 32)
    assert api.create_model("cregan").config.image_size == 128  # the defaults are untouched
    settings = api.run_settings(model, {})
    assert (settings.steps, settings.sample_every) == (150, 50)
    assert api.run_settings(model, {"steps": 10}).steps == 10  # an explicit value wins
    by_epochs = api.run_settings(model, {"epochs": 2})
    assert (by_epochs.steps, by_epochs.epochs) == (None, 2)  # --epochs replaces the preset's steps


def test_set_and_flags_override_a_preset_and_config_toml_records_it(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", "dcgan", "--preset", "cpu", *TINY_DCGAN, "--steps", "2", "--out", str(out),
                                      "--no-progress", "--device", "cpu", "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    document = read_toml(out / "config.toml")
    assert document["preset"] == "cpu"
    assert document["config"]["batch_size"] == 8  # --batch-size over the preset's 64
    assert document["config"]["g_features"] == 8  # --set over the default
    assert document["train"]["steps"] == 2  # --steps over the preset's 3000
    again = tmp_path / "again"  # a run's config.toml fed back keeps its preset on record
    result = CliRunner().invoke(cli, ["run", "dcgan", "--config", str(out / "config.toml"), "--out", str(again),
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    assert read_toml(again / "config.toml")["preset"] == "cpu"


def test_the_python_api_trains_with_the_preset_settings(tmp_path):
    out = tmp_path / "run"
    model = api.create_model("cregan", preset="cpu", image_size=64, g_width=4, d_width=4, batch_size=4,
                             data="synthetic-faces:n=16,identities=8")
    result = api.train(model, out=out, steps=2, device="cpu", precision="fp32", progress=False)
    document = read_toml(result.run_dir / "config.toml")
    assert (document["preset"], document["train"]["sample_every"], document["train"]["steps"]) == ("cpu", 50, 2)


def test_an_unknown_preset_is_one_line_naming_the_presets():
    refused = gankit("run", "cregan", "--preset", "gpu")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == ["error: model 'cregan' has no preset 'gpu'; its presets are "
                                                   "paper, cpu"]


def test_a_resume_refuses_a_preset(tmp_path):
    refused = gankit("run", "dcgan", "--resume", str(tmp_path), "--preset", "cpu")
    assert refused.returncode == 1 and "drop --preset" in refused.stderr and "Traceback" not in refused.stderr


def test_info_lists_each_preset_with_what_it_changes_and_measured():
    shown = CliRunner().invoke(cli, ["info", "cregan"])
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    assert "preset paper:" in text and "sets nothing" in text
    cpu_preset = api.create_model("cregan").presets["cpu"]
    assert (f"preset cpu: {cpu_preset.summary}; sets steps=150, image_size=64, batch_size=8, g_width=32, d_width=32, "
            "sample_every=50") in text
    assert f"measured: {' '.join(cpu_preset.measured.split())}" in text
    described = json.loads(CliRunner().invoke(cli, ["info", "dcgan", "--json"]).output)
    model = next(entry for entry in described if entry["kind"] == "model")
    cpu = next(preset for preset in model["presets"] if preset["name"] == "cpu")
    assert cpu["overrides"] == {"steps": 3000, "batch_size": 64, "sample_every": 500}
    assert "811 s" in cpu["measured"]
