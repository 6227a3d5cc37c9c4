"""``gankit export RUN --format hub``: a folder with config.json, model.safetensors, a model card and a grid, that
``load_pretrained`` and every inference command load back offline, giving what the run itself gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner
from safetensors.torch import load_file

from gankit_core import api, hub
from gankit_core.cli import cli

sys.path.insert(0, str(Path(__file__).parent))
from test_export import train_tiny  # noqa: E402  (one tiny config per model, shared with ONNX)


def gankit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gankit_core", *args], capture_output=True, text=True, check=False)


def front_matter(card: str) -> dict:
    assert card.startswith("---\n"), card[:80]
    header, _, _ = card[4:].partition("\n---\n")
    return yaml.safe_load(header)


def inference_outputs(name: str, checkpoint: Path, faces: Path, out: Path) -> dict[str, bytes]:
    """The files the model's own inference command writes for ``checkpoint`` (a run directory or an export)."""
    loaded = api.load_checkpoint(checkpoint)
    size = str(loaded.model.config.image_size)
    if not faces.exists():
        made = CliRunner().invoke(cli, ["data", "synth", "--n", "2", "--size", size, "--out", str(faces)])
        assert made.exit_code == 0, made.output
    a, b = str(faces / "face-00000.png"), str(faces / "face-00001.png")
    if hasattr(loaded.model, "swap"):
        command = ["swap", a, b, "--region", "eyes", "-o", str(out)]
    elif hasattr(loaded.model, "transfer"):
        command = ["transfer", a, b, "-o", str(out)]
    elif loaded.model.inference_networks == ("gen_a2b", "gen_b2a"):
        command = ["translate", a, "--direction", "b2a", "-o", str(out / "translated.png")]
    else:
        command = ["sample", name, "-n", "4", "-o", str(out / "samples.png")]
    result = CliRunner().invoke(cli, [*command, "--checkpoint", str(checkpoint), "--device", "cpu"])  # in-process
    assert result.exit_code == 0, result.output
    written = {path.name: path.read_bytes() for path in out.rglob("*.png")}
    assert written, f"gankit {command[0]} wrote nothing"
    return written


@pytest.mark.parametrize("name", api.list_models())
def test_every_model_exports_a_hub_folder_that_loads_back_as_the_run(name, tmp_path):
    result = train_tiny(name, tmp_path / "run")
    written = hub.export_hub(result.run_dir, eval_count=0)
    folder = result.run_dir / "hub"
    assert written.folder == folder
    assert sorted(p.name for p in folder.iterdir()) == sorted(hub.EXPORTED_FILES)

    config = json.loads((folder / "config.json").read_text())
    model = api.create_model(name, **config["config"])
    assert config["model"] == name and config["networks"] == list(model.inference_networks)
    assert config["weights"] == {network: "ema" for network in model.inference_networks}  # train_tiny keeps an EMA
    stored = load_file(folder / "model.safetensors")
    assert {key.split("/")[0] for key in stored} == set(model.inference_networks)  # no critic, no optimizer

    from_run, exported = api.load_checkpoint(result.run_dir), api.load_pretrained(folder)
    assert set(exported.nets) == set(model.inference_networks) and exported.step == from_run.step
    assert all(not module.training for module in exported.nets.values())
    assert torch.equal(exported.sample(2), from_run.sample(2))
    assert torch.equal(exported.generate(2), from_run.generate(2))

    card = (folder / "README.md").read_text()
    meta = front_matter(card)
    assert meta["library_name"] == "gankit" and name in meta["tags"]
    assert meta["datasets"] == [model.config.data.split(":")[0]]
    assert "model-index" not in meta  # --eval 0: no figures to declare
    for section in ("## Training", "## Config", "## Evaluation", "## Samples", "![samples from step"):
        assert section in card, section
    assert f"| `image_size` | `{model.config.image_size}` |" in card

    # The model's own inference command gives the same files from the exported folder as from the run.
    faces = tmp_path / "faces"
    assert (inference_outputs(name, folder, faces, tmp_path / "from-export")
            == inference_outputs(name, result.run_dir, faces, tmp_path / "from-run"))


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory):
    return train_tiny("dcgan", tmp_path_factory.mktemp("dcgan")).run_dir


def test_the_card_carries_the_evaluation_that_gankit_eval_gives_on_the_folder(dcgan_run, tmp_path):
    out = tmp_path / "card"
    exported = gankit("export", str(dcgan_run), "--format", "hub", "-o", str(out), "--eval", "12")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith(f"wrote {out}: generator from step 1")
    assert exported.stderr == (f"evaluating {out} on 12 images per set for the model card's table (minutes on a CPU; "
                               "--eval 0 leaves the table out)\n")  # said before the wait, not after
    measured = gankit("eval", "dcgan", "--checkpoint", str(out), "-n", "12", "--json")
    assert measured.returncode == 0, measured.stderr
    values = json.loads(measured.stdout)
    card = (out / "README.md").read_text()
    meta = front_matter(card)
    declared = {row["type"]: row["value"] for row in meta["model-index"][0]["results"][0]["metrics"]}
    assert declared.keys() == {"fid", "kid"} and set(meta["metrics"]) == {"fid", "kid"}
    assert declared["fid"] == pytest.approx(values["fid"], rel=1e-5)
    assert declared["kid"] == pytest.approx(values["kid"], rel=1e-5, abs=1e-9)
    assert f"| fid | {values['fid']:.5g} |" in card
    assert "`gankit eval dcgan --checkpoint THIS_FOLDER -n 12 --seed 0`" in card


def test_hub_export_errors_are_one_line_and_never_touch_a_users_files(dcgan_run, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    refused = gankit("export", str(dcgan_run), "--format", "hub", "-o", str(folder), "--eval", "0")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "already holds other files (notes.txt)" in refused.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]

    onnx_only = gankit("export", str(dcgan_run), "--format", "hub", "--opset", "17")
    assert onnx_only.returncode == 1 and "ONNX options" in onnx_only.stderr
    hub_only = gankit("export", str(dcgan_run), "--eval", "4")
    assert hub_only.returncode == 1 and "options of --format hub" in hub_only.stderr

    out = tmp_path / "export"
    assert gankit("export", str(dcgan_run), "--format", "hub", "-o", str(out), "--eval", "0").returncode == 0
    again = gankit("export", str(dcgan_run), "--format", "hub", "-o", str(out), "--eval", "0")  # an earlier export
    assert again.returncode == 1 and again.stderr.strip() == f"error: {out} holds an earlier export; add --force to replace it"
    forced = gankit("export", str(dcgan_run), "--format", "hub", "-o", str(out), "--eval", "0", "--force")
    assert forced.returncode == 0, forced.stderr
    nested = gankit("export", str(out), "--format", "hub")
    assert nested.returncode == 1 and "already an exported folder" in nested.stderr

    other = gankit("sample", "cregan", "--checkpoint", str(out))
    assert other.returncode == 1 and "exported from model 'dcgan', not 'cregan'" in other.stderr
    weights = out / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    cut = gankit("sample", "dcgan", "--checkpoint", str(out))
    assert cut.returncode == 1 and cut.stderr.count("\n") == 1 and "truncated or corrupt weights" in cut.stderr
    (out / "config.json").write_text('{"format": "something-else"}')
    foreign = gankit("sample", "dcgan", "--checkpoint", str(out))
    assert foreign.returncode == 1 and "not a gankit export" in foreign.stderr, foreign.stderr


def test_an_exported_config_is_migrated_on_load_as_a_checkpoints_is(tmp_path):
    run = train_tiny("cregan", tmp_path / "run").run_dir
    folder = hub.export_hub(run, eval_count=0).folder
    config = json.loads((folder / "config.json").read_text())
    assert config["config_version"] == api.get_entry("model", "cregan").load().config_version
    # As a folder exported before 'smooth' existed would read: version 1, the key absent.
    old = {**config, "config_version": 1, "config": {k: v for k, v in config["config"].items() if k != "smooth"}}
    (folder / "config.json").write_text(json.dumps(old))
    loaded = gankit("sample", "cregan", "--checkpoint", str(folder), "-n", "2", "-o", str(tmp_path / "old.png"))
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stderr.startswith(f"warning: {folder / 'config.json'}: ") and "smooth" in loaded.stderr
    (folder / "config.json").write_text(json.dumps({**config, "config_version": 99}))
    newer = gankit("sample", "cregan", "--checkpoint", str(folder))
    assert newer.returncode == 1 and newer.stderr.count("\n") == 1 and "newer than the installed" in newer.stderr
