"""Edges (issue 10): every failure is one line, nothing is overwritten, plugins cannot knock each other out.

Error cases run the CLI in a subprocess and check what a user sees: the exit code, one `error:` line naming the
path and the reason, no traceback, and the files left as they were."""

from __future__ import annotations

import errno
import json
import os
import pty
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gankit_core import api

sys.path.insert(0, str(Path(__file__).parent))
from clitools import AS_USER, gankit, one_error_line, snapshot  # noqa: E402

HERE = Path(__file__).parent
REPO = HERE.parent
TINY_DCGAN = {"image_size": 32, "batch_size": 4, "g_features": 8, "d_features": 8, "latent_dim": 16,
              "data": "synthetic-faces:n=16,identities=8"}


@pytest.fixture
def read_only(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    probe = subprocess.run(["touch", str(folder / "probe")], capture_output=True, **AS_USER)
    if probe.returncode == 0:
        pytest.skip("this machine cannot make a folder read-only for the test process")
    yield folder
    folder.chmod(0o755)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A DCGAN run at step 2 (32 px, 8-wide networks)."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    api.train(api.create_model("dcgan", **TINY_DCGAN), out=out, steps=2, device="cpu", precision="fp32",
              progress=False, sample_every=100)
    return out


def _astronaut(folder: Path) -> Path:
    from skimage import data

    path = folder / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path


def write_png(path: Path, value: int, size: int = 40) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, dtype=np.uint8)).save(path)
    return path


# ------------------------------------------------------------------------------- OSError: one line, path + reason
def test_writes_into_a_read_only_folder_are_one_line(read_only, tiny_run, tmp_path):
    write_png(tmp_path / "faces" / "a.png", 90)
    commands = [
        ("sample", "dcgan", "--checkpoint", tiny_run, "-n", "2", "-o", read_only / "s.png"),
        ("data", "show", "synthetic-faces:n=8", "--size", "32", "-n", "2", "-o", read_only / "grid.png"),
        ("meqfi", "sheet", tmp_path / "faces", "-o", read_only / "sheet.html"),
        ("data", "synth", "--n", "2", "--size", "32", "--out", read_only / "set"),
        ("plugin", "new", "fresh-name", "--dir", read_only),
        ("landmarks", _astronaut(tmp_path), "-o", read_only),
    ]
    for command in commands:
        line = one_error_line(gankit(*command), read_only, "Permission denied")
        assert ".tmp" not in line  # the user's path, not write_atomic's temporary file
    assert list(read_only.iterdir()) == []


def test_a_run_that_cannot_write_its_checkpoints_says_so_before_training(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = snapshot(run)
    (run / "checkpoints").chmod(0o555)
    try:
        result = gankit("resume", run, "--steps", "4", "--no-progress")
    finally:
        (run / "checkpoints").chmod(0o755)
    if result.returncode == 0:
        pytest.skip("this machine cannot make a folder read-only for the test process")
    one_error_line(result, run / "checkpoints", "Permission denied", "nothing was trained")
    assert snapshot(run) == before


def test_write_atomic_names_the_path_on_a_full_disk_and_leaves_no_temporary(tmp_path, monkeypatch):
    from gankit_core.engine import checkpoint as ckpt
    from gankit_core.errors import describe_os_error

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ckpt.os, "fsync", full)
    with pytest.raises(OSError) as caught:
        ckpt.write_atomic(tmp_path / "model.safetensors", b"x" * 100)
    assert describe_os_error(caught.value) == f"{tmp_path / 'model.safetensors'}: cannot write (No space left on device)"
    assert list(tmp_path.iterdir()) == []


def test_write_atomic_gives_the_mode_a_plain_open_would(tmp_path):
    from gankit_core.engine.checkpoint import write_atomic

    previous = os.umask(0o027)
    try:
        write_atomic(tmp_path / "new.txt", b"a")
        (tmp_path / "kept.txt").write_bytes(b"old")
        (tmp_path / "kept.txt").chmod(0o604)
        write_atomic(tmp_path / "kept.txt", b"new")
    finally:
        os.umask(previous)
    assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o640  # 0666 less the umask
    assert (tmp_path / "kept.txt").stat().st_mode & 0o777 == 0o604  # a replaced file keeps its own
    assert (tmp_path / "kept.txt").read_bytes() == b"new"


def test_debug_shows_the_traceback_behind_the_line():
    assert "Traceback" in gankit("resume", "/no/such/run", env={"GANKIT_DEBUG": "1"}).stderr
    debug = gankit("--debug", "resume", "/no/such/run")
    assert "Traceback" in debug.stderr and debug.stderr.strip().splitlines()[-1].startswith("error: ")


# ------------------------------------------------------------------------------- tracebacks that were
def test_fid_skips_an_unreadable_first_file_and_kid_std_is_null_for_one_subset(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "0-broken.png").write_bytes(b"not a png")
    for index in range(3):
        write_png(tmp_path / "a" / f"{index + 1}.png", 60 + 40 * index)
        write_png(tmp_path / "b" / f"{index + 1}.png", 200 - 30 * index)
    result = gankit("fid", tmp_path / "a", tmp_path / "b", "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "0-broken.png" in result.stderr  # skipped with a warning
    values = json.loads(result.stdout, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert values["images_a"] == 3 and values["images_b"] == 3
    assert values["kid_std"] is None  # 3 < 1000 images: one subset, no spread to report


def test_a_folder_of_unreadable_files_is_one_line(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"junk")
    one_error_line(gankit("fid", tmp_path / "a", tmp_path / "a"), tmp_path / "a", "can be read")


def test_compare_takes_dcgan_at_32_px_and_refuses_48_in_one_line():
    compare = [sys.executable, str(REPO / "benchmarks" / "compare.py"), "dcgan", "--batch-size", "2", "--steps", "1",
               "--warmup", "0", "--precisions", "fp32"]
    result = subprocess.run([*compare, "--image-size", "32"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "batch 2, 32px" in result.stdout and "ms/step" in result.stdout
    refused = subprocess.run([*compare, "--image-size", "48"], capture_output=True, text=True)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [refused.stderr.strip()] and "48" in refused.stderr
    # Bad values are one line before anything is timed (a size of 0 is not "the default").
    for bad, named in ((["--steps", "0"], "--steps"), (["--image-size", "0"], "image_size"),
                       (["--precisions", "fp32,bogus"], "bogus"), (["--json", "/no/such/folder/out.json"], "--json")):
        refused = subprocess.run([*compare, "--image-size", "32", *bad], capture_output=True, text=True)
        assert refused.returncode == 1 and "Traceback" not in refused.stderr and "ms/step" not in refused.stdout, bad
        assert refused.stderr.strip().splitlines() == [refused.stderr.strip()] and named in refused.stderr, bad


FIXED_SIZE_PLUGIN = """
import sys
sys.path.insert(0, {tests!r})
from torch import nn
from gankit_core.hookspecs import hookimpl
from tiny_models import TinyWGAN


class FixedSize(TinyWGAN):
    \"\"\"A critic whose last layer was written for 32 px only (tests).\"\"\"

    name = "fixed-size"

    def build(self):
        nets = super().build()
        nets["discriminator"][-1] = nn.Linear(4 * 8 * 8, 1)
        return nets


@hookimpl
def register_models(register):
    register("fixed-size", FixedSize, summary="fails above 32 px", paper="tests")
"""


def test_a_failure_in_the_first_step_names_the_network_and_its_input(fake_plugins, tmp_path):
    fake_plugins("gankit-fixed-size", FIXED_SIZE_PLUGIN.format(tests=str(HERE)))
    out = tmp_path / "run"
    result = gankit("run", "fixed-size", "--image-size", "48", "--steps", "1", "--out", out, "--no-progress")
    one_error_line(result, "model 'fixed-size'", "network 'discriminator' (Sequential)", "8 x 3 x 48 x 48",
                   "mat1 and mat2", "--debug")
    assert not out.exists()  # nothing left behind: the same --out works once the model is fixed
    debug = gankit("run", "fixed-size", "--image-size", "48", "--steps", "1", "--out", out, env={"GANKIT_DEBUG": "1"})
    assert "Traceback" in debug.stderr and "mat1 and mat2" in debug.stderr


# ------------------------------------------------------------------------------- nothing overwritten or merged
def test_run_refuses_a_folder_holding_an_earlier_run(tmp_path):
    (tmp_path / "samples").mkdir()
    (tmp_path / "config.toml").write_text('model = "dcgan"\n')
    (tmp_path / "metrics.jsonl").write_text('{"step": 10, "loss_d": 1.0}\n')
    write_png(tmp_path / "samples" / "step-000010.png", 50)
    before = snapshot(tmp_path)
    result = gankit("run", "dcgan", "--steps", "1", "--out", tmp_path, "--data", "synthetic-faces:n=8",
                    "--image-size", "32", "--batch-size", "2")
    one_error_line(result, tmp_path, "already holds a run", "config.toml", "metrics.jsonl", "samples/", "gankit resume")
    assert snapshot(tmp_path) == before


def test_data_synth_refuses_a_non_empty_folder_and_overwrite_replaces_a_set(tmp_path):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    one_error_line(gankit("data", "synth", "--n", "2", "--size", "32", "--out", other), other, "not empty", "--overwrite")
    one_error_line(gankit("data", "synth", "--n", "2", "--size", "32", "--out", other, "--overwrite"),
                   "not a 'gankit data synth' set")
    assert snapshot(other) == {"notes.txt": b"keep me"}

    out = tmp_path / "set"
    assert gankit("data", "synth", "--n", "3", "--size", "32", "--out", out).returncode == 0
    assert gankit("data", "synth", "--n", "2", "--size", "32", "--out", out, "--overwrite").returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ["face-00000.png", "face-00001.png", "labels.csv", "landmarks.csv"]
    assert len((out / "labels.csv").read_text().splitlines()) == 3  # header + the 2 images that are there


def test_meqfi_sheet_keys_rows_by_relative_path_with_real_mime_types(tmp_path):
    from gankit_core.metrics.meqfi import read_ratings, score_ratings

    write_png(tmp_path / "x" / "a.png", 30)
    write_png(tmp_path / "y" / "a.png", 200)
    Image.fromarray(np.full((20, 20, 3), 99, dtype=np.uint8)).save(tmp_path / "y" / "b.jpg")
    Image.fromarray(np.full((20, 20, 3), 99, dtype=np.uint8)).save(tmp_path / "y" / "c.webp")
    (tmp_path / "z.png").write_bytes(b"broken")
    out = tmp_path.parent / "sheet.html"
    result = gankit("meqfi", "sheet", tmp_path, "-o", out)
    assert result.returncode == 0, result.stderr
    assert "4 images" in result.stdout
    assert "warning: skipping unreadable image" in result.stderr and "z.png" in result.stderr
    page = out.read_text()
    assert 'data-image="x/a.png"' in page and 'data-image="y/a.png"' in page
    assert "data:image/jpeg;base64" in page and "data:image/webp;base64" in page and "data:image/png;base64" in page
    ratings = tmp_path.parent / "ratings.csv"
    ratings.write_text("rater,image,scale,Eyes\nann,x/a.png,5,5\nann,y/a.png,5,1\n")
    assert score_ratings(read_ratings(ratings)).images == {"x/a.png": 1.0, "y/a.png": 0.2}  # two images, not one


def test_resume_below_the_current_step_is_refused_with_the_step(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = snapshot(run)
    one_error_line(gankit("resume", run, "--steps", "1", "--no-progress"), "already at step 2", "more than 2")
    assert snapshot(run) == before


# ------------------------------------------------------------------------------- plugin clashes
CLASH = """
from gankit_core.hookspecs import hookimpl


@hookimpl
def register_models(register):
    register("dcgan", "math:sqrt", summary="a third-party model that reuses a built-in name")
    register("clash-extra", "math:sqrt", summary="this plugin's other model")
"""


def test_a_duplicate_name_costs_only_that_entry(fake_plugins):
    from gankit_core.plugins import load_plugins

    fake_plugins("gankit-aaa-clash", CLASH)  # sorts before gankit-dcgan by name; installed after it
    plugins = load_plugins()
    assert plugins.registry.get("model", "dcgan").plugin.distribution == "gankit-dcgan"
    assert plugins.registry.get("model", "clash-extra").plugin.distribution == "gankit-aaa-clash"
    assert plugins.registry.get("model", "hinge-dcgan").plugin.distribution == "gankit-hinge-dcgan"
    assert not plugins.broken
    (warning,) = plugins.warnings
    assert "gankit-dcgan" in warning and "gankit-aaa-clash" in warning and "model 'dcgan'" in warning

    listed = gankit("list", "dcgan", "--json")
    assert listed.returncode == 0
    rows = json.loads(listed.stdout)
    assert "model" in {row["kind"] for row in rows} and {row["plugin"] for row in rows} == {"gankit-dcgan"}
    assert "warning: model 'dcgan' is registered by both" in listed.stderr and "gankit-aaa-clash" in listed.stderr


def test_a_model_of_a_broken_plugin_says_the_plugin_is_broken(fake_plugins):
    fake_plugins("gankit-wobbly", """
from gankit_core.hookspecs import hookimpl

@hookimpl
def register_models(register):
    register("wobbly", "math:sqrt", summary="registered before the hook fails")
    raise RuntimeError("half-built")
""")
    fake_plugins("gankit-snag", "import a_dependency_that_is_missing\n")
    one_error_line(gankit("run", "wobbly"), "model 'wobbly' comes from plugin gankit-wobbly, which failed to load",
                   "half-built", "gankit plugins")
    one_error_line(gankit("run", "snag"), "gankit-snag, which failed to load", "a_dependency_that_is_missing")
    one_error_line(gankit("run", "nothing-like-it"), "unknown model", "gankit-snag", "gankit plugins")


@pytest.mark.parametrize(("name", "message"), [
    ("dcgan", "a distribution named gankit-dcgan is already installed"),
    ("bce", "'bce' is already registered: loss 'bce' (gankit"),
])
def test_plugin_new_refuses_taken_names(tmp_path, name, message):
    one_error_line(gankit("plugin", "new", name, "--dir", tmp_path), message)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------- wrong or missing output
def test_info_layers_shows_spectral_norm_convs_as_convs():
    info = json.loads(gankit("info", "hinge-dcgan", "--layers", "--json").stdout)
    critic = info["networks"]["discriminator"]
    convs = [row for row in critic["layers"] if row["type"] == "Conv2d"]
    assert len(convs) == 5 and all(row["parametrizations"] == ["spectral norm"] for row in convs)
    assert not any("Spectral" in row["type"] or "parametrizations" in row["layer"] for row in critic["layers"])
    assert [row["output"] for row in convs][-1] == [1, 1, 1]
    assert sum(row["params"] for row in critic["layers"]) == critic["params"]
    component = json.loads(gankit("info", "sn-dcgan", "--layers", "--json").stdout)["networks"]["sn-dcgan"]
    assert [row["type"] for row in component["layers"]].count("Conv2d") == 5
    table = gankit("info", "sn-dcgan", "--layers").stdout
    assert "Conv2d (spectral norm)" in table


def test_layer_table_shows_weight_norm_layers_as_the_layer_they_wrap():
    import torch
    from torch import nn
    from torch.nn.utils.parametrizations import weight_norm

    from gankit_core.summary import layer_table

    network = nn.Sequential(weight_norm(nn.Conv2d(3, 4, 3)), nn.ReLU(), nn.Flatten(), weight_norm(nn.Linear(4 * 6 * 6, 2)))
    rows = layer_table(network, (torch.zeros(1, 3, 8, 8),))
    assert [(row["type"], row.get("parametrizations")) for row in rows] == [
        ("Conv2d", ["weight norm"]), ("ReLU", None), ("Flatten", None), ("Linear", ["weight norm"])]
    assert rows[0]["params"] == 3 * 4 * 9 + 4 + 4  # direction, bias and one magnitude per output channel
    assert sum(row["params"] for row in rows) == sum(p.numel() for p in network.parameters())


def test_metric_json_is_strict_with_null_for_non_finite_values():
    from gankit_core.cli_metrics import json_text

    text = json_text({"psnr": float("inf"), "ssim": 0.5, "kid_std": None, "nan": float("nan")})
    assert json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not JSON")) == {
        "psnr": None, "ssim": 0.5, "kid_std": None, "nan": None}


BRIGHTNESS_PLUGIN = """
from gankit_core.hookspecs import hookimpl


def mean_brightness(evaluation):
    \"\"\"The mean pixel value (0-255) of the generated images.\"\"\"
    return {"mean_brightness": float(evaluation.generated().float().mean())}


@hookimpl
def register_metrics(register):
    register("mean-brightness", "gankit_brightness:mean_brightness", summary="Mean pixel value of generated images")
"""


def test_a_plugin_metric_is_evaluated_by_gankit_eval(fake_plugins, tiny_run):
    fake_plugins("gankit-brightness", BRIGHTNESS_PLUGIN)
    result = gankit("eval", "dcgan", "--checkpoint", tiny_run, "--metric", "mean-brightness", "-n", "6", "--json")
    assert result.returncode == 0, result.stderr
    expected = api.generate(api.load_checkpoint(tiny_run), 6).float().mean().item()
    assert json.loads(result.stdout)["mean_brightness"] == pytest.approx(expected, abs=1e-4)
    refused = gankit("eval", "dcgan", "--checkpoint", tiny_run, "--metric", "inception-score", "-n", "6")
    one_error_line(refused, "cannot be evaluated with inception-score", "fid, kid, mean-brightness")


def test_registered_metrics_are_the_ones_eval_can_run():
    listed = json.loads(gankit("list", "--kind", "metric", "--json").stdout)
    assert {row["name"] for row in listed} == {"fid", "kid"}


def stderr_on_a_terminal(command: list[str]) -> tuple[int, str]:
    """Run ``command`` with stderr on a pseudo-terminal; its exit code and what it showed there."""
    primary, secondary = pty.openpty()
    shown: list[bytes] = []

    def drain():
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:
                return
            if not chunk:
                return
            shown.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=secondary, env={**os.environ, "COLUMNS": "120"})
    os.close(secondary)
    reader.join(timeout=10)
    os.close(primary)
    return result.returncode, b"".join(shown).decode(errors="replace")


def test_rendering_shows_progress_on_a_terminal_only(tmp_path):
    command = [sys.executable, "-m", "gankit_core", "data", "synth", "--n", "300", "--size", "32", "--seed", "7"]
    piped = subprocess.run([*command, "--out", str(tmp_path / "piped")], capture_output=True, text=True)
    assert piped.returncode == 0 and piped.stderr == ""
    code, shown = stderr_on_a_terminal([*command, "--out", str(tmp_path / "tty")])
    assert code == 0 and "rendering 300 synthetic photo faces at 32 px" in shown


def test_eval_shows_progress_on_a_terminal_only(fake_plugins, tiny_run):
    fake_plugins("gankit-brightness", BRIGHTNESS_PLUGIN)
    command = [sys.executable, "-m", "gankit_core", "eval", "dcgan", "--checkpoint", str(tiny_run), "--metric",
               "mean-brightness", "-n", "6"]
    piped = subprocess.run(command, capture_output=True, text=True)
    assert piped.returncode == 0 and piped.stderr == ""
    code, shown = stderr_on_a_terminal(command)
    assert code == 0 and "generating 6 images" in shown


# ------------------------------------------------------------------------------- small rough edges
@pytest.mark.parametrize(("args", "message"), [
    (["list", "zzz*"], "no name matches 'zzz*'"),
    (["data", "show", str(REPO / "README.md")], "is a file; 'data show' takes a folder of images or a dataset spec"),
    (["resume", str(REPO / "README.md")], "is a file; give the run's directory"),
])
def test_rough_edges_are_clear_lines(args, message):
    one_error_line(gankit(*args), message)


def test_piped_listings_are_not_cut_at_80_columns():
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    listed = subprocess.run([sys.executable, "-m", "gankit_core", "list"], capture_output=True, text=True, env=env)
    row = next(line for line in listed.stdout.splitlines() if "synthetic-faces" in line)
    assert row.rstrip().endswith("Procedural faces with exact landmarks, boxes, identities and expressions (built in)")
    assert len(row.rstrip()) > 80


def test_kid_reports_no_spread_for_one_subset_and_a_spread_for_several():
    from gankit_core.metrics.fid import kernel_inception_distance

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 8)), rng.normal(0.5, 1, size=(30, 8))
    assert kernel_inception_distance(a, b)[1] is None
    kid, spread = kernel_inception_distance(a, b, subset_size=20)
    assert spread is not None and spread > 1e-6


def test_the_package_ships_py_typed_for_plugin_authors():
    from importlib.resources import files

    assert files("gankit_core").joinpath("py.typed").is_file()


def _commands(group, path=("gankit",)):
    import click

    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


def test_cli_docs_give_every_command_with_every_option():
    """Each command's synopsis in docs/cli.md (a code span or block starting `gankit COMMAND`) names all its options."""
    import re

    import click

    from gankit_core.cli import cli

    text = (REPO / "docs" / "cli.md").read_text()
    for path, command in _commands(cli):
        synopses = []
        for found in re.finditer(re.escape(path) + r"\b", text):
            ends = [e for e in (text.find("`", found.end()), text.find("\ngankit ", found.end())) if e != -1]
            synopses.append(text[found.start() : min(ends)])
        assert synopses, f"docs/cli.md has no synopsis of '{path}'"
        synopsis = " ".join(synopses)
        for parameter in command.params:
            if isinstance(parameter, click.Option) and not parameter.hidden and "--help" not in parameter.opts:
                option = max(parameter.opts, key=len)
                assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", synopsis), f"{path}: {option} not documented"


@pytest.mark.parametrize(("args", "code", "fragments"), [
    (("run", "dcgan", "--bogus"), 2, ("No such option '--bogus'", "gankit run --help")),
    (("run",), 2, ("Missing argument 'MODEL'",)),
    (("nosuch",), 2, ("No such command 'nosuch'",)),
    (("run", "dcgan", "--steps", "0"), 1, ("steps must be at least 1, not 0",)),
    (("run", "dcgan", "--steps", "1", "--set", "ema_decay=nan"), 1, ("ema_decay must be a finite number, not nan",)),
    (("data", "show", "no/such/folder"), 1, ("no/such/folder", "folder")),
    (("data", "show", "nowhere"), 1, ("'nowhere' is neither a dataset", "nor an existing folder")),
])
def test_usage_and_value_errors_are_one_line_before_anything_runs(tmp_path, args, code, fragments):
    result = gankit(*args, cwd=tmp_path)
    one_error_line(result, *fragments, code=code)
    assert not list(tmp_path.iterdir())  # nothing trained, nothing written


def test_list_exits_1_when_nothing_matches_with_or_without_json():
    for extra in ((), ("--json",)):
        result = gankit("list", "zzz-nothing", *extra)
        assert result.returncode == 1, (extra, result.stdout, result.stderr)
    assert json.loads(gankit("list", "zzz-nothing", "--json").stdout) == []
