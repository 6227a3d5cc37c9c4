"""gankit's own folder format (issue 25 items 18-19): what `gankit data synth` writes is read back with its
landmarks, boxes, identities and expressions; the cache shows and clears every rendered set; and the folder
datasets and their decoded-image cache no longer import each other (issue 23)."""

from __future__ import annotations

import ast
import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gankit_core.data import open_dataset

sys.path.insert(0, str(Path(__file__).parent))
from clitools import gankit, one_error_line  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory) -> Path:
    """Six 64 px faces as `gankit data synth` writes them."""
    out = tmp_path_factory.mktemp("synth") / "faces"
    made = gankit("data", "synth", "-n", "6", "--size", "64", "--seed", "3", "--out", out)
    assert made.returncode == 0, made.stderr
    return out


def _labels(folder: Path) -> dict[str, dict[str, str]]:
    return {row["file"]: row for row in csv.DictReader((folder / "labels.csv").open())}


def test_item18_a_synth_folder_is_read_with_its_landmarks_boxes_and_labels(synth_set, tmp_path, monkeypatch):
    from gankit_core.data.synthetic import EXPRESSIONS

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    dataset = open_dataset(str(synth_set), 64)
    assert {"image", "landmarks", "eye_box", "mouth_box", "identity", "expression"} <= set(dataset.fields)
    labels = _labels(synth_set)
    marks = {row[0]: np.array(row[1:], float).reshape(68, 2)
             for row in csv.reader((synth_set / "landmarks.csv").open()) if row[0] != "file"}
    for index, name in enumerate(sorted(labels)):
        row = labels[name]
        assert dataset.fields["eye_box"][index].tolist() == [int(row[f"eye_{c}"]) for c in ("x0", "y0", "x1", "y1")]
        assert dataset.fields["mouth_box"][index].tolist() == [int(row[f"mouth_{c}"]) for c in ("x0", "y0", "x1", "y1")]
        assert dataset.fields["identity"][index] == int(row["identity"])
        assert EXPRESSIONS[dataset.fields["expression"][index]] == row["expression"]
        assert np.allclose(dataset.fields["landmarks"][index].numpy(), marks[name], atol=0.01)
        assert np.array_equal(dataset.fields["image"][index].permute(1, 2, 0).numpy(),
                              np.asarray(Image.open(synth_set / name)))

    half = open_dataset(f"folder:{synth_set}", 32)  # loaded smaller: everything scaled with the image
    assert np.allclose(half.fields["landmarks"].numpy(), dataset.fields["landmarks"].numpy() / 2, atol=0.01)
    box, small = dataset.fields["eye_box"].numpy(), half.fields["eye_box"].numpy()
    assert np.abs(small - box / 2).max() <= 1 and (small[:, 2] - small[:, 0] == small[:, 3] - small[:, 1]).all()


def test_item18_data_show_draws_a_synth_folders_landmarks_and_cregan_trains_on_its_boxes(synth_set, tmp_path):
    shown = gankit("data", "show", synth_set, "--landmarks", "--size", "64", "-n", "2", "-o", tmp_path / "grid.png")
    assert shown.returncode == 0, shown.stderr
    plain = gankit("data", "show", synth_set, "--size", "64", "-n", "2", "-o", tmp_path / "plain.png")
    assert plain.returncode == 0, plain.stderr
    drawn = np.asarray(Image.open(tmp_path / "grid.png")).astype(int)
    assert (np.abs(drawn - np.asarray(Image.open(tmp_path / "plain.png")).astype(int)).sum(-1) > 0).sum() > 100

    trained = gankit("run", "cregan", "--data", synth_set, "--steps", "1", "--image-size", "64", "--batch-size", "2",
                     "--set", "g_width=4", "--set", "d_width=4", "--out", tmp_path / "run", "--no-progress")
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "run" / "checkpoints" / "latest").is_file()


def test_item18_a_folder_with_a_labels_file_of_another_layout_stays_a_plain_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "cats"
    folder.mkdir()
    for index in range(3):
        Image.new("RGB", (20, 20), (index * 80, 0, 0)).save(folder / f"{index}.png")
    (folder / "labels.csv").write_text("file,label\n0.png,tabby\n")  # a class per file: not gankit's boxes
    dataset = open_dataset(f"folder:{folder}", 16)
    assert len(dataset) == 3 and set(dataset.fields) == {"image"}


def test_item18_a_damaged_labels_row_is_one_line(synth_set, tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    for name in ("face-00000.png", "face-00001.png", "landmarks.csv"):
        (folder / name).write_bytes((synth_set / name).read_bytes())
    header, first, *_ = (synth_set / "labels.csv").read_text().splitlines()
    (folder / "labels.csv").write_text(f"{header}\n{first.rsplit(',', 3)[0]}\n")  # a row cut short
    one_error_line(gankit("data", "show", folder, "--size", "64", "-o", tmp_path / "grid.png"),
                   "labels.csv, line 2: expected numbers")


def test_item19_cache_lists_and_clears_rendered_expression_sets(tmp_path):
    cache = tmp_path / "cache"
    env = {"GANKIT_CACHE": str(cache)}
    rendered = gankit("data", "show", "synthetic-expression:n=4,identities=2", "--size", "32", "-n", "2",
                      "-o", tmp_path / "grid.png", env=env)
    assert rendered.returncode == 0, rendered.stderr
    (sets,) = [path.name for path in cache.glob("synthetic-expression-*.safetensors")]
    (cache / "notes.txt").write_text("not gankit's")
    listed = gankit("cache", env=env)
    assert listed.returncode == 0 and "synthetic-expression" in listed.stdout and sets in listed.stdout
    cleared = gankit("cache", "clear", env=env)
    assert cleared.returncode == 0, cleared.stderr
    assert sorted(path.name for path in cache.iterdir() if not path.name.startswith(".")) in (
        ["notes.txt"], ["folders", "notes.txt"])


def _imports(module: Path) -> set[str]:
    """Every gankit_core module ``module`` imports, at its top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gankit_core"):
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("gankit_core"))
    return names


def test_folders_and_the_prepared_cache_do_not_import_each_other():
    data = ROOT / "gankit_core" / "data"
    assert "gankit_core.data.folders" not in _imports(data / "prepared.py")
    assert "gankit_core.data.decode" in _imports(data / "prepared.py")
    assert not {"gankit_core.data.folders", "gankit_core.data.prepared"} & _imports(data / "decode.py")
