"""Checkpoints that survive upgrades: config versions, migrations, and old checkpoints of cregan and expression that
load and resume exactly as the version that wrote them would have run them."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomli_w
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from gankit_core import api
from gankit_core.config import read_toml
from gankit_core.engine import Trainer
from gankit_core.engine import checkpoint as ckpt
from gankit_core.errors import CheckpointError, ConfigError
from gankit_core.hookspecs import hookimpl
from gankit_core.interfaces import ConfigMigration
from gankit_core.testing import registered_plugin

sys.path.insert(0, str(Path(__file__).parent))
from tiny_models import TinyConfig, TinyWGAN  # noqa: E402


def settings(**values):
    return api.train_settings({"device": "cpu", "precision": "fp32", "progress": False, "log_every": 1, **values})


def as_older_version(run_dir: Path, absent: tuple[str, ...], version: int | None = None) -> None:
    """Rewrite a run's checkpoints and config.toml as an older version of the model would have written them:
    the config without the keys that version did not have, and its version number (None: not recorded at all, as
    before versions existed)."""
    for path in (run_dir / "checkpoints").glob("*.safetensors"):
        tensors = load_file(path)
        with safe_open(path, "pt") as handle:
            header = dict(handle.metadata())
        config = json.loads(header["config"])
        header["config"] = json.dumps({k: v for k, v in config.items() if k not in absent})
        header.pop("config_version")
        if version is not None:
            header["config_version"] = str(version)
        save_file(tensors, path, metadata=header)
    document = read_toml(run_dir / "config.toml")
    document["config"] = {k: v for k, v in document["config"].items() if k not in absent}
    document.pop("config_version")
    if version is not None:
        document["config_version"] = version
    (run_dir / "config.toml").write_text(tomli_w.dumps(document))


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(ckpt.resolve_latest(run_dir))


def assert_same_weights(a: Path, b: Path) -> None:
    first, second = weights(a), weights(b)
    assert first.keys() == second.keys()
    different = [key for key in first if not torch.equal(first[key], second[key])]
    assert not different, different[:5]


# ------------------------------------------------------------------------------ the mechanism, on a tiny model
@dataclass
class VersionedConfig(TinyConfig):
    latent_dim: int = 8
    critic_lr: float = 1e-3  # version 2 renamed it from "lr"
    gen_lr: float = 5e-4  # version 2 added it; before, G trained at the critic's rate
    noise_scale: float = 1.0  # version 3 added it; version 2 drew unit noise


class VersionedWGAN(TinyWGAN):
    """A tiny WGAN-GP (Gulrajani et al. 2017) whose config went through three versions."""

    name = "versioned-wgan"
    Config = VersionedConfig
    config_version = 3
    config_migrations = {
        1: ConfigMigration(renamed={"lr": "critic_lr"}, added={"gen_lr": lambda old: old["critic_lr"]},
                           removed={"clip": 0.0}),
        2: ConfigMigration(added={"noise_scale": 1.0}),
    }


class VersionedPlugin:
    @hookimpl
    def register_models(self, register):
        register("versioned-wgan", VersionedWGAN, summary="test model with three config versions", paper="test")


@pytest.fixture
def versioned():
    with registered_plugin(VersionedPlugin()):
        yield


def test_a_migration_renames_fills_from_the_old_config_and_drops_what_it_reproduces():
    saved = {"lr": 2e-3, "clip": 0.0, "image_size": 32}
    migrated = VersionedWGAN.migrate_config(saved, 1)
    assert migrated.values["critic_lr"] == 2e-3 and "lr" not in migrated.values and "clip" not in migrated.values
    assert migrated.filled == {"gen_lr": 2e-3, "noise_scale": 1.0}  # gen_lr from the renamed old rate
    assert set(migrated.defaulted) == {"batch_size", "latent_dim", "n_critic", "ema_decay", "lr_schedule", "data",
                                       "gp_weight"}  # keys the test config simply left out
    current = dataclasses.asdict(VersionedConfig())
    assert VersionedWGAN.migrate_config(current, 3).filled == {}
    assert VersionedWGAN.migrate_config({**current, "noise_scale": 0.5}, 2).values["noise_scale"] == 0.5


def test_a_migration_refuses_what_it_cannot_reproduce():
    with pytest.raises(ConfigError, match=r"sets clip = 0.01, which model 'versioned-wgan' no longer has since "
                                          r"config version 2 \(only 0.0 is reproduced\)"):
        VersionedWGAN.migrate_config({"lr": 1e-3, "clip": 0.01}, 1)
    with pytest.raises(ConfigError, match="version 4 of model 'versioned-wgan', newer than the installed plugin's "
                                          "version 3"):
        VersionedWGAN.migrate_config({}, 4)

    class Forgetful(VersionedWGAN):
        config_version = 4

    with pytest.raises(TypeError, match="declares no migration from version 3"):
        Forgetful.migrate_config({}, 3)


def test_checkpoints_and_config_toml_record_the_config_version(tmp_path, versioned):
    run = tmp_path / "run"
    Trainer(api.create_model("versioned-wgan"), settings(steps=1), run_dir=run).fit()
    assert ckpt.read(run).config_version == 3
    assert read_toml(run / "config.toml")["config_version"] == 3
    with safe_open(ckpt.resolve_latest(run), "pt") as handle:
        assert handle.metadata()["config_version"] == "3"


def test_an_older_checkpoint_is_migrated_on_load_with_one_warning(tmp_path, versioned, capsys):
    run = tmp_path / "run"
    Trainer(api.create_model("versioned-wgan", noise_scale=1.0), settings(steps=1), run_dir=run).fit()
    as_older_version(run, ("noise_scale",), version=2)  # version 2 had everything but noise_scale
    capsys.readouterr()
    checkpoint = ckpt.read(run)
    assert checkpoint.config_version == 3 and checkpoint.migration.version == 2
    assert checkpoint.meta("config")["noise_scale"] == 1.0
    warnings = capsys.readouterr().err.strip().splitlines()
    assert warnings == [f"warning: {checkpoint.path}: config version 2 of model 'versioned-wgan' read as version 3: "
                        "filled noise_scale=1.0, the values that reproduce version 2"]
    assert api.load_checkpoint(run).model.config.noise_scale == 1.0
    assert capsys.readouterr().err == ""  # read again by the same command (export --format hub does): said once


def test_a_key_no_migration_declares_is_named_apart(tmp_path, versioned, capsys):
    run = tmp_path / "run"
    Trainer(api.create_model("versioned-wgan"), settings(steps=1), run_dir=run).fit()
    as_older_version(run, ("gen_lr",), version=2)  # a plugin that dropped a key without a migration saying so
    capsys.readouterr()
    ckpt.read(run)
    assert "took today's defaults for gen_lr=0.0005, which no migration of the model declares" in capsys.readouterr().err


def test_a_checkpoint_newer_than_the_plugin_is_refused_in_one_line(tmp_path, versioned):
    run = tmp_path / "run"
    Trainer(api.create_model("versioned-wgan"), settings(steps=1), run_dir=run).fit()
    as_older_version(run, (), version=9)
    with pytest.raises(CheckpointError, match=r"step-000001.safetensors: the config is version 9 of model "
                                              r"'versioned-wgan', newer than the installed plugin's version 3"):
        api.load_checkpoint(run)


# ------------------------------------------------------- old cregan and expression checkpoints, replayed exactly
CREGAN_TINY = {"image_size": 64, "batch_size": 4, "g_width": 4, "d_width": 4,
               "data": "synthetic-faces:n=16,identities=8"}
# What config version 1 of cregan meant (the first CREGAN): G the whole image from a random start, trained at the
# critic's rate, every third iteration (n_critic's default then; always saved, so it travels with the config), over
# the plain paste (version 3 made G refine a Poisson blend, with a fade, a critic-only warm-up and an identity term;
# version 4 added the harmonisation task).
CREGAN_VERSION_1 = {"n_critic": 3, "g_lr": 0.001, "composite": "whole", "band": 0, "residual": False,
                    "identity_start": False, "smooth": 0, "blend": "paste", "fade": 0, "g_warmup": 0,
                    "idt_weight": 0.0, "harmonize_weight": 0.0}
CREGAN_ADDED_SINCE = ("g_lr", "composite", "band", "residual", "identity_start", "smooth", "blend", "fade", "g_warmup",
                      "idt_weight", "harmonize_weight")

EXPRESSION_TINY = {"image_size": 32, "batch_size": 4, "g_width": 4, "d_width": 4, "fusion_width": 4,
                   "fusion_d_width": 4, "fusion_steps": 2, "transfer_steps": 2,
                   "data": "synthetic-expression:n=16,identities=8"}
# Version 1 of expression: the paper's networks as printed, sharp landmark lines.
EXPRESSION_VERSION_1 = {"residual": False, "identity_start": False, "fusion_identity_start": False,
                        "landmark_blur": 0.0, "warp_input": False, "pixel_loss": "l1"}
EXPRESSION_ADDED_SINCE = tuple(EXPRESSION_VERSION_1)


@pytest.mark.parametrize("name, tiny, version_1, added_since", [
    ("cregan", CREGAN_TINY, CREGAN_VERSION_1, CREGAN_ADDED_SINCE),
    ("expression", EXPRESSION_TINY, EXPRESSION_VERSION_1, EXPRESSION_ADDED_SINCE),
])
def test_a_version_1_checkpoint_loads_and_resumes_as_its_own_config_replayed(tmp_path, capsys, name, tiny,
                                                                          version_1, added_since):
    replay = tmp_path / "replay"  # today's code given version 1's meaning explicitly
    Trainer(api.create_model(name, **tiny, **version_1), settings(steps=2), run_dir=replay).fit()
    old = tmp_path / "old"  # the same run as version 1 wrote it: no config_version, none of the later keys
    shutil.copytree(replay, old)
    as_older_version(old, added_since)
    saved_config = ckpt.read(replay).meta("config")
    stripped = {k: v for k, v in saved_config.items() if k not in added_since}
    naive = api.create_model(name, **stripped)  # what loading did before: today's defaults in the gaps
    assert naive.config != api.create_model(name, **saved_config).config

    capsys.readouterr()
    loaded, replayed = api.load_checkpoint(old), api.load_checkpoint(replay)
    warning = capsys.readouterr().err
    assert warning.count("warning:") == 1
    assert f"config version 1 of model '{name}' read as version" in warning
    for key in added_since:
        assert f"{key}=" in warning
    assert loaded.model.config == replayed.model.config
    assert torch.equal(loaded.generate(4), replayed.generate(4))
    assert torch.equal(loaded.sample(2), replayed.sample(2))

    # Resuming the old run goes through the same migration and continues exactly as the replayed run does.
    api.resume(old, steps=4)  # expression: across its stage boundary (2 fusion steps, then 2 transfer steps)
    api.resume(replay, steps=4)
    assert ckpt.read(old).step == ckpt.read(replay).step == 4
    assert_same_weights(old, replay)
    assert read_toml(old / "config.toml")["config"] == {k: v for k, v in read_toml(replay / "config.toml")["config"]
                                                        .items() if k not in added_since}  # the user's file is kept


def test_a_run_config_toml_given_to_config_is_migrated(tmp_path):
    from click.testing import CliRunner

    from gankit_core.cli import cli

    replay = tmp_path / "replay"
    Trainer(api.create_model("cregan", **CREGAN_TINY, **CREGAN_VERSION_1), settings(steps=1), run_dir=replay).fit()
    as_older_version(replay, CREGAN_ADDED_SINCE)
    out = tmp_path / "again"
    result = CliRunner().invoke(cli, ["run", "cregan", "--config", str(replay / "config.toml"), "--steps", "1",
                                      "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    again = read_toml(out / "config.toml")
    assert again["config_version"] == api.create_model("cregan").config_version
    assert {key: again["config"][key] for key in CREGAN_VERSION_1} == CREGAN_VERSION_1


def test_every_registered_model_reads_every_older_config_version_of_its_own_defaults():
    from gankit_core.plugins import get_registry

    for entry in get_registry().list(kind="model"):
        model_class = entry.load()
        assert set(model_class.config_migrations) == set(range(1, model_class.config_version)), entry.name
        defaults = json.loads(json.dumps(dataclasses.asdict(model_class.Config())))
        for version in range(1, model_class.config_version + 1):
            migrated = model_class.migrate_config(defaults, version)
            assert migrated.values == defaults and not migrated.filled and not migrated.defaulted, entry.name


@pytest.mark.parametrize("name", ["cyclegan", "ugatit"])
def test_a_version_1_translation_config_is_filled_with_the_papers_forms_not_defaulted(name):
    """ugatit's and cyclegan's first configs had no residual generator, base, blur or cycle scale: a checkpoint
    saved then reads with each added option at the value that reproduces it, and the warning names them as filled,
    not as keys no migration declares."""
    from gankit_core.translation import TRANSLATION_VERSION_1

    model_class = api.get_entry("model", name).load()
    saved = {k: v for k, v in json.loads(json.dumps(dataclasses.asdict(model_class.Config()))).items()
             if k not in TRANSLATION_VERSION_1}
    migrated = model_class.migrate_config(saved, 1)
    assert migrated.filled == TRANSLATION_VERSION_1 and not migrated.defaulted
    assert "filled residual=False" in migrated.describe(name, model_class.config_version)
