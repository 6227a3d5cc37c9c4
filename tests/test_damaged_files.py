"""Hand-edited or damaged files a user hands back to gankit (found by a fresh-eyes pass): a run's config.toml or a
--config file whose values have the wrong type, a damaged export's config.json, a ratings file that is not text,
and metric counts that cannot be computed. Each is one error line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from clitools import gankit, one_error_line  # noqa: E402


def edited_run(dcgan_run: Path, tmp_path: Path, old: str, new: str) -> Path:
    run = shutil.copytree(dcgan_run, tmp_path / "run")
    config = run / "config.toml"
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new, 1))
    return run


@pytest.mark.parametrize(("value", "fragment"), [("0", "not 0"), ('"x"', "not 'x'"), ("true", "not True")])
def test_a_config_version_that_is_no_version_is_one_line(dcgan_run, tmp_path, value, fragment):
    run = edited_run(dcgan_run, tmp_path, "config_version = 1", f"config_version = {value}")
    for command in (("resume", run, "--steps", "2", "--no-progress"),
                    ("run", "dcgan", "--config", run / "config.toml", "--steps", "1", "--out", tmp_path / "again")):
        one_error_line(gankit(*command), "config_version must be a whole number from 1 to", fragment)
    assert not (tmp_path / "again").exists()


def test_config_and_train_that_are_not_tables_are_one_line(dcgan_run, tmp_path):
    for text, table in (("config = 5\n", "config"), ("train = [1]\n", "train")):
        file = tmp_path / f"{table}.toml"
        file.write_text(text)
        one_error_line(gankit("run", "dcgan", "--config", file, "--steps", "1", "--out", tmp_path / "x"),
                       f"{file}: '{table}' must be a table")
    run = edited_run(dcgan_run, tmp_path, 'model = "dcgan"', "model = 5")
    one_error_line(gankit("resume", run, "--steps", "2"), "'model' must be a model's name, not 5")
    one_error_line(gankit("report", run, "-o", tmp_path / "page.html"), "'model' must be a model's name")


@pytest.mark.parametrize(("key", "value"), [("config", "x"), ("config_version", "z"), ("model", None)])
def test_a_damaged_export_config_is_one_line(dcgan_run, tmp_path, key, value):
    from gankit_core.hub import export_hub

    folder = export_hub(dcgan_run, tmp_path / "hub", eval_count=0).folder
    document = json.loads((folder / "config.json").read_text())
    if value is None:
        del document[key]
    else:
        document[key] = value
    (folder / "config.json").write_text(json.dumps(document))
    line = one_error_line(gankit("sample", "dcgan", "--checkpoint", folder, "-o", tmp_path / "s.png"))
    assert "config.json" in line and (key in line), line
    assert not (tmp_path / "s.png").exists()


def test_fid_counts_and_sizes_out_of_range_and_binary_ratings_are_one_line(tmp_path):
    faces = tmp_path / "faces"
    assert gankit("data", "synth", "-n", "4", "--size", "32", "--out", faces).returncode == 0
    for option, value in (("-n", "0"), ("-n", "-1"), ("--size", "5")):
        one_error_line(gankit("fid", faces, faces, option, value), value, code=2)
    ratings = tmp_path / "ratings.csv"
    ratings.write_bytes(b"\x93\xff\xfe\x00rater,image\n")
    one_error_line(gankit("meqfi", "score", ratings), f"{ratings}: not a CSV text file")
