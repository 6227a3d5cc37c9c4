"""The overwrite rule (issue 25): no command replaces a user's file by surprise.

Each test runs the CLI as a user would and checks the files afterwards, byte for byte: an output that exists
is refused (naming it) unless --force; an input, a checkpoint or a run's config or metrics is refused even with
--force; an output whose name says another format is refused."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gankit_core import api

sys.path.insert(0, str(Path(__file__).parent))
from clitools import gankit, one_error_line, snapshot  # noqa: E402

TINY_DCGAN = {"image_size": 32, "batch_size": 4, "g_features": 8, "d_features": 8, "latent_dim": 16,
              "data": "synthetic-faces:n=16,identities=8"}
TINY_CYCLEGAN = {"image_size": 32, "batch_size": 2, "g_width": 4, "d_width": 4, "n_blocks": 1, "pool_size": 0,
                 "data": "synthetic-unpaired:n=8,identities=4"}
TINY_CREGAN = {"image_size": 64, "batch_size": 2, "g_width": 4, "d_width": 4, "data": "synthetic-faces:n=8,identities=4"}


def _train(out: Path, model: str, config: dict) -> Path:
    api.train(api.create_model(model, **config), out=out, steps=1, device="cpu", precision="fp32", progress=False,
              sample_every=100)
    return out


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory):
    """A DCGAN run at step 1 (32 px, 8-wide networks)."""
    return _train(tmp_path_factory.mktemp("runs") / "dcgan", "dcgan", TINY_DCGAN)


@pytest.fixture(scope="module")
def cyclegan_run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("runs") / "cyclegan", "cyclegan", TINY_CYCLEGAN)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """Two synthetic 64 px faces with labels.csv and landmarks.csv, as `gankit data synth` writes them."""
    out = tmp_path_factory.mktemp("faces") / "set"
    made = gankit("data", "synth", "-n", "2", "--size", "64", "--out", out)
    assert made.returncode == 0, made.stderr
    return out


def photo(path: Path, value: int = 120, size: int = 40) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, dtype=np.uint8)).save(path)
    return path


# ------------------------------------------------------------------------ data loss (items 1-4)
def test_item1_report_never_writes_over_a_run_config_or_a_photo(dcgan_run, tmp_path):
    run = shutil.copytree(dcgan_run, tmp_path / "run")
    picture = photo(tmp_path / "astronaut.png")
    before, picture_bytes = snapshot(run), picture.read_bytes()
    for extra in ((), ("--force",)):
        one_error_line(gankit("report", run, "-o", run / "config.toml", *extra),
                       run / "config.toml", "config.toml of the run", "not even with --force")
        one_error_line(gankit("report", run, "-o", run / "metrics.jsonl", *extra), "metrics.jsonl of the run")
        one_error_line(gankit("report", run, "-o", picture, *extra), picture, "HTML page", ".html", "'.png'")
    assert snapshot(run) == before and picture.read_bytes() == picture_bytes
    assert gankit("resume", run, "--steps", "2", "--no-progress").returncode == 0  # its config is still TOML


def test_item2_sample_never_writes_over_a_checkpoint(dcgan_run, tmp_path):
    run = shutil.copytree(dcgan_run, tmp_path / "run")
    (checkpoint,) = (run / "checkpoints").glob("step-*.safetensors")
    before = snapshot(run)
    for extra in ((), ("--force",)):
        one_error_line(gankit("sample", "dcgan", "--checkpoint", run, "-n", "2", "-o", checkpoint, *extra),
                       checkpoint, "is a checkpoint file", "not even with --force")
        one_error_line(gankit("sample", "dcgan", "--checkpoint", run, "-n", "2", "-o", run / "checkpoints" / "latest",
                              *extra), "pointer to the latest checkpoint")
    assert snapshot(run) == before
    assert api.load_checkpoint(run).step == 1


def test_item3_translate_never_replaces_its_input(dcgan_run, tmp_path):
    picture = photo(tmp_path / "a.png")
    before = picture.read_bytes()
    for extra in ((), ("--force",)):
        one_error_line(gankit("translate", picture, "--checkpoint", dcgan_run, "-o", picture, *extra),
                       picture, "is one of this command's inputs")
    assert picture.read_bytes() == before


def test_item4_synth_overwrite_replaces_only_an_earlier_set(tmp_path):
    out = tmp_path / "set"
    assert gankit("data", "synth", "-n", "3", "--size", "32", "--out", out).returncode == 0
    (out / "important.txt").write_text("mine")
    (out / "notes").mkdir()
    (out / "notes" / "a.md").write_text("also mine")
    (out / "run").mkdir()
    (out / "run" / "config.toml").write_text('model = "dcgan"\n')
    before = snapshot(out)
    refused = gankit("data", "synth", "-n", "2", "--size", "32", "--out", out, "--overwrite")
    one_error_line(refused, "did not write", "important.txt", "notes/", "run/", "nothing was removed")
    assert snapshot(out) == before

    for name in ("important.txt", "notes", "run"):
        (out / name).unlink() if (out / name).is_file() else shutil.rmtree(out / name)
    assert gankit("data", "synth", "-n", "2", "--size", "32", "--out", out, "--force").returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ["face-00000.png", "face-00001.png", "labels.csv", "landmarks.csv"]


# ------------------------------------------------------------------------ earlier outputs (item 5)
def test_item5_sample_refuses_its_earlier_grid_unless_force(dcgan_run, tmp_path):
    grid = tmp_path / "samples.png"
    assert gankit("sample", "dcgan", "--checkpoint", dcgan_run, "-n", "2", cwd=tmp_path).returncode == 0
    first = grid.read_bytes()
    one_error_line(gankit("sample", "dcgan", "--checkpoint", dcgan_run, "-n", "4", cwd=tmp_path),
                   "samples.png exists", "--force")
    assert grid.read_bytes() == first
    assert gankit("sample", "dcgan", "--checkpoint", dcgan_run, "-n", "4", "--force", cwd=tmp_path).returncode == 0
    assert grid.read_bytes() != first


def test_item5_report_refuses_its_earlier_page_unless_force(dcgan_run, tmp_path):
    page = tmp_path / "compare.html"
    page.write_text("an earlier comparison")
    one_error_line(gankit("report", dcgan_run, "-o", page), page, "exists", "--force")
    assert page.read_text() == "an earlier comparison"
    assert gankit("report", dcgan_run, "-o", page, "--force").returncode == 0
    assert "<html>" in page.read_text()


def test_item5_export_refuses_its_earlier_file_unless_force(dcgan_run, tmp_path):
    pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    run = shutil.copytree(dcgan_run, tmp_path / "run")
    assert gankit("export", run).returncode == 0
    exported = run / "dcgan.onnx"
    exported.write_bytes(b"an earlier export")
    one_error_line(gankit("export", run), exported, "exists", "--force")
    assert exported.read_bytes() == b"an earlier export"
    assert gankit("export", run, "--force").returncode == 0
    assert exported.read_bytes() != b"an earlier export"
    one_error_line(gankit("export", run, "-o", run / "config.toml", "--force"), "config.toml of the run")


def test_item5_swap_refuses_its_earlier_outputs_unless_force(faces, tmp_path):
    a, b = faces / "face-00000.png", faces / "face-00001.png"
    out = tmp_path / "swapped"
    out.mkdir()
    earlier = out / "face-00001-with-face-00000-mouth.png"
    earlier.write_bytes(b"an earlier swap")
    checkpoint = _train(tmp_path / "cregan", "cregan", TINY_CREGAN)
    one_error_line(gankit("swap", a, b, "--checkpoint", checkpoint, "-o", out), earlier, "exists", "--force")
    assert snapshot(out) == {earlier.name: b"an earlier swap"}
    swapped = gankit("swap", a, b, "--checkpoint", checkpoint, "-o", out, "--force")
    assert swapped.returncode == 0, swapped.stderr
    assert Image.open(earlier).size == (64, 64) and len(list(out.iterdir())) == 2
    one_error_line(gankit("swap", a, b, "--checkpoint", checkpoint, "-o", tmp_path / "out.png"),
                   "named like a file", "folder")
    assert not (tmp_path / "out.png").exists()


# ------------------------------------------------------------------------ the rest of the rule
def test_an_output_named_for_another_format_is_refused(dcgan_run, tmp_path):
    one_error_line(gankit("sample", "dcgan", "--checkpoint", dcgan_run, "-n", "2", "-o", tmp_path / "s.jpg"),
                   "s.jpg", "PNG", "must end in .png")
    one_error_line(gankit("data", "show", "synthetic-faces:n=4", "--size", "32", "-o", tmp_path / "grid"),
                   "must end in .png", "no extension")
    folder = tmp_path / "photos"
    photo(folder / "a.png")
    one_error_line(gankit("translate", folder, "--checkpoint", dcgan_run, "-o", tmp_path / "t.txt"),
                   "t.txt", "named like a file")
    one_error_line(gankit("data", "synth", "-n", "2", "--size", "32", "--out", tmp_path / "set.png"),
                   "named like a file")
    one_error_line(gankit("meqfi", "sheet", folder, "-o", tmp_path / "sheet.csv"), "HTML page", ".html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_data_show_never_writes_over_an_image_of_the_set_it_shows(tmp_path):
    folder = tmp_path / "faces"
    first = photo(folder / "a.png", 10)
    photo(folder / "b.png", 200)
    one_error_line(gankit("data", "show", folder, "--size", "32", "-o", first, "--force"), "one of this command's inputs")
    assert np.asarray(Image.open(first)).max() == 10


def test_translating_a_folder_into_itself_twice_translates_only_the_photos(cyclegan_run, tmp_path):
    folder = tmp_path / "photos"
    photo(folder / "a.png", 60)
    photo(folder / "sub" / "b.png", 160, size=48)
    made = gankit("translate", folder, "--checkpoint", cyclegan_run, "-o", folder)
    assert made.returncode == 0, made.stderr
    written = snapshot(folder)
    assert sorted(written) == ["a-a2b.png", "a.png", "sub", "sub/b-a2b.png", "sub/b.png"]
    one_error_line(gankit("translate", folder, "--checkpoint", cyclegan_run, "-o", folder), "a-a2b.png", "outputs exist",
                   "1 more", "--force")
    again = gankit("translate", folder, "--checkpoint", cyclegan_run, "-o", folder, "--force")
    assert again.returncode == 0, again.stderr
    assert "left out 2 earlier output(s)" in again.stderr and "wrote 2 images" in again.stdout
    assert sorted(snapshot(folder)) == sorted(written)  # no a-a2b-a2b.png
    back = gankit("translate", folder, "--checkpoint", cyclegan_run, "--direction", "b2a", "-o", folder)
    assert back.returncode == 0 and "wrote 2 images" in back.stdout
    assert sorted(p.name for p in folder.glob("*.png")) == ["a-a2b.png", "a-b2a.png", "a.png"]


def test_two_inputs_with_one_name_are_not_written_to_one_output(tmp_path):
    a, b = photo(tmp_path / "x" / "face.png"), photo(tmp_path / "y" / "face.png", 30)
    one_error_line(gankit("landmarks", a, b, "-o", tmp_path / "out"), "face-landmarks.png twice", "distinct")
    assert not (tmp_path / "out").exists()
