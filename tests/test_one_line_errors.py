"""The last new-user pass's failures (issue 25, items 6-17 and 20): each a traceback, a late failure or a
misleading line before, each one clear line now, said before anything is trained or written."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gankit_core import api
from gankit_core.errors import ConfigError

sys.path.insert(0, str(Path(__file__).parent))
from clitools import gankit, one_error_line, snapshot  # noqa: E402


# ------------------------------------------------------------------------ items 6-10: refused up front
@pytest.mark.parametrize("command", [
    ("run", "dcgan", "--steps", "1"),
    ("eval", "dcgan", "--checkpoint", "RUN", "-n", "4"),
    ("data", "synth", "-n", "2", "--size", "32", "--out", "faces"),
])
def test_item6_a_negative_seed_is_a_usage_error(tmp_path, command):
    one_error_line(gankit(*command, "--seed", "-1", cwd=tmp_path), "'--seed'", "-1", "x>=0", code=2)
    assert list(tmp_path.iterdir()) == []


def test_item7_a_binary_config_file_is_not_valid_toml(tmp_path):
    picture = tmp_path / "x.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    one_error_line(gankit("run", "dcgan", "--config", picture, cwd=tmp_path), f"{picture}: not valid TOML")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]


def test_item8_random_bytes_after_the_metrics_are_left_out_by_report_and_resume(dcgan_run, tmp_path):
    run = shutil.copytree(dcgan_run, tmp_path / "run")
    with (run / "metrics.jsonl").open("ab") as handle:
        handle.write(bytes(range(256)) + b"\n\xff\xfe{\"step\": \x00\n")
    reported = gankit("report", run, "-o", tmp_path / "compare.html")
    assert reported.returncode == 0 and "Traceback" not in reported.stderr, reported.stderr
    assert "loss_d" in (tmp_path / "compare.html").read_text()
    resumed = gankit("resume", run, "--steps", "2", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]  # valid JSON again
    assert [row["step"] for row in rows if "event" not in row] == [1, 2]


@pytest.mark.parametrize(("model", "setting"), [
    ("dcgan", "g_features=0"), ("dcgan", "latent_dim=0"), ("cregan", "g_width=0"), ("ugatit", "d_width=0"),
    ("expression", "fusion_width=0"), ("cyclegan", "g_width=-2"),
])
def test_item9_a_width_below_1_is_refused_before_training(tmp_path, model, setting):
    key, value = setting.split("=")
    one_error_line(gankit("run", model, "--steps", "1", "--set", setting, cwd=tmp_path),
                   f"{key} must be at least 1, not {value}")
    assert list(tmp_path.iterdir()) == []  # no run folder: nothing started


@pytest.mark.parametrize(("model", "setting"), [("dcgan", "lr=0"), ("expression", "d_lr=0.0"), ("cregan", "lr=-1e-4")])
def test_item10_a_learning_rate_of_0_or_below_is_refused(tmp_path, model, setting):
    key = setting.split("=")[0]
    one_error_line(gankit("run", model, "--steps", "1", "--set", setting, cwd=tmp_path),
                   f"{key} must be a positive learning rate")
    assert list(tmp_path.iterdir()) == []


def test_items9_10_every_width_and_rate_of_every_model_is_checked():
    """Found by field name, so a model added later is covered: each width, feature or channel count and latent
    size must be at least 1, each learning rate positive."""
    import dataclasses

    from gankit_core.config import is_rate_field, is_size_field

    checked = 0
    for name in api.list_models():
        config = api.get_entry("model", name).load().Config
        for field in dataclasses.fields(config):
            for bad in ([0, -1] if is_size_field(field.name) else [0.0, -0.1] if is_rate_field(field.name) else []):
                with pytest.raises(ConfigError, match=f"^{field.name} must be"):
                    api.create_model(name, **{field.name: bad})
                checked += 1
    assert checked >= 2 * 20  # dcgan's 4, cregan's 4, expression's 6, ugatit's 3, cyclegan's 3 ...


# ------------------------------------------------------------------------ items 11-17: the right message
def test_item11_resume_without_steps_says_the_run_already_finished(dcgan_run, tmp_path):
    run = shutil.copytree(dcgan_run, tmp_path / "run")
    assert gankit("resume", run, "--steps", "2", "--no-progress").returncode == 0
    before = snapshot(run)
    for command in (("resume", run), ("run", "dcgan", "--resume", run)):
        line = one_error_line(gankit(*command, "--no-progress"), f"{run} already finished at step 2",
                              "pass --steps N with N > 2")
        assert "not 1" not in line  # the total the user never gave
    one_error_line(gankit("resume", run, "--steps", "2", "--no-progress"),  # the step it is at: nothing to train
                   f"{run} is already at step 2", "give more than 2")
    assert snapshot(run) == before


def test_item12_an_opset_onnx_does_not_define_names_the_range(dcgan_run, tmp_path):
    onnx = pytest.importorskip("onnx", reason="the export extra is not installed")
    newest = onnx.defs.onnx_opset_version()
    for opset in ("999", "0"):
        one_error_line(gankit("export", dcgan_run, "-o", tmp_path / "g.onnx", "--opset", opset),
                       f"--opset {opset} is not an opset", f"up to {newest}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [
    ("swap", "{folder}", "{image}", "--checkpoint", "{run}"),
    ("swap", "{image}", "{folder}", "--checkpoint", "{run}"),
    ("transfer", "{folder}", "{image}", "--checkpoint", "{run}"),
    ("landmarks", "{image}", "{folder}"),
])
def test_item13_a_folder_given_as_an_image_is_named_as_a_folder(dcgan_run, tmp_path, command):
    folder, image = tmp_path / "faces", tmp_path / "face.png"
    folder.mkdir()
    image.write_bytes(b"")
    arguments = [part.format(folder=folder, image=image, run=dcgan_run) for part in command]
    one_error_line(gankit(*arguments, cwd=tmp_path), f"{folder} is a folder, not an image")


def test_item14_an_unknown_dataset_points_to_a_command_that_exists(tmp_path):
    line = one_error_line(gankit("run", "dcgan", "--data", "nosuch", cwd=tmp_path), "'nosuch' is neither a dataset",
                          "'gankit list --kind dataset'")
    assert "gankit data list" not in line
    listed = gankit("list", "--kind", "dataset")
    assert listed.returncode == 0 and "synthetic-faces" in listed.stdout


@pytest.mark.parametrize("command", ["eval", "sample"])
def test_item15_an_unknown_model_is_named_before_the_checkpoint_is_read(dcgan_run, tmp_path, command):
    line = one_error_line(gankit(command, "nosuch", "--checkpoint", dcgan_run, cwd=tmp_path), "unknown model 'nosuch'")
    assert "checkpoint" not in line
    assert list(tmp_path.iterdir()) == []


def test_item16_an_unknown_kind_lists_the_kinds():
    from gankit_core.registry import KINDS

    line = one_error_line(gankit("list", "--kind", "nosuch"), "'nosuch' is not one of", code=2)
    assert all(f"'{kind}'" in line for kind in KINDS)


def test_item17_piped_help_shows_every_summary_whole():
    from gankit_core.cli import cli
    from gankit_core.cli_options import summary

    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    for path, group in (((), cli), (("data",), cli.commands["data"]), (("meqfi",), cli.commands["meqfi"])):
        shown = subprocess.run([sys.executable, "-m", "gankit_core", *path, "--help"], capture_output=True, text=True,
                               env=env).stdout
        listing = " ".join(shown.split("Commands:")[1].split())
        for name in group.list_commands(None):
            whole = summary(group.get_command(None, name))
            assert f"{name} {whole}" in listing, (name, whole)
    assert "MEQFI human evaluation (paper 002, Eq. 4): a rating sheet, then the score." in summary(cli.commands["meqfi"])


# ------------------------------------------------------------------------ item 20
def test_item20_data_synth_takes_dash_n_like_every_other_command(tmp_path):
    made = gankit("data", "synth", "-n", "3", "--size", "32", "--out", tmp_path / "faces")
    assert made.returncode == 0, made.stderr
    assert len(list((tmp_path / "faces").glob("face-*.png"))) == 3


def test_item20_steps_with_epochs_is_a_usage_error(tmp_path):
    one_error_line(gankit("run", "dcgan", "--steps", "3", "--epochs", "2", cwd=tmp_path), "--steps or --epochs",
                   "gankit run --help", code=2)
    assert list(tmp_path.iterdir()) == []


def test_item20_every_command_that_writes_creates_missing_folders_alike(dcgan_run, tmp_path):
    """One rule for missing parent folders (gankit_core.outputs): created, by every command alike."""
    commands = {
        "sample": ("sample", "dcgan", "--checkpoint", dcgan_run, "-n", "2", "-o", "{}/s.png"),
        "data show": ("data", "show", "synthetic-faces:n=4", "--size", "32", "-n", "2", "-o", "{}/grid.png"),
        "report": ("report", dcgan_run, "-o", "{}/compare.html"),
        "meqfi sheet": ("meqfi", "sheet", dcgan_run / "samples", "-o", "{}/sheet.html"),
        "data synth": ("data", "synth", "-n", "1", "--size", "32", "--out", "{}/faces"),
    }
    for name, command in commands.items():
        where = tmp_path / re.sub(r"\W", "-", name) / "new" / "deeper"
        result = gankit(*[str(part).format(where) for part in command])
        assert result.returncode == 0, (name, result.stderr)
        assert any(where.iterdir()), name
