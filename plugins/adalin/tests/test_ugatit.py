"""Model ugatit: Table 2's settings, Table 1's counts through `gankit info`, the losses, training with rho clipping,
then `gankit translate` and `gankit eval` on the trained checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from gankit_adalin.layers import LIN, AdaLIN
from gankit_adalin.model import domain_classification, least_squares

from gankit_core import api
from gankit_core.testing import check_model_contract

TINY = {"image_size": 32, "g_width": 8, "d_width": 8, "n_blocks": 2, "global_layers": 5, "local_layers": 4,
        "batch_size": 4, "data": "synthetic-unpaired:n=16,identities=8"}


def gankit(*args):
    return subprocess.run([sys.executable, "-m", "gankit_core", *args], capture_output=True, text=True)


def test_defaults_are_paper_001_table_2():
    model = api.create_model("ugatit")
    c = model.config
    assert (c.image_size, c.batch_size, c.lr, c.weight_decay, c.lr_schedule) == (256, 10, 1e-4, 1e-4, "linear-half")
    assert (c.gan_weight, c.cycle_weight, c.identity_weight, c.cam_weight) == (1, 10, 10, 100)
    assert (c.n_blocks, c.light, c.global_layers, c.local_layers, c.data) == (4, True, 7, 5, "synthetic-unpaired")
    assert model.inference_networks == ("gen_a2b", "gen_b2a") and model.default_steps == 20_000


def test_gankit_info_reports_table_1_counts():
    result = gankit("info", "ugatit", "--json")
    assert result.returncode == 0, result.stderr
    described = json.loads(result.stdout)  # the model, generator and discriminator named ugatit
    networks = next(info for info in described if info["kind"] == "model")["networks"]
    assert networks["gen_a2b"]["params"] == networks["gen_b2a"]["params"] == 10_589_888
    assert networks["disc_global_a"]["params"] == networks["disc_global_b"]["params"] == 53_130_176


def test_a_generator_without_cam_attention_is_refused_when_the_networks_are_built():
    """``generator=resnet`` (cyclegan's) has no CAM logits for ugatit's CAM loss: refused by name when the model
    is built, not after the data is loaded at the first step."""
    from gankit_core.errors import ConfigError

    with pytest.raises(ConfigError, match="generator 'resnet' has no CAM attention .* use generator=ugatit, or "
                                          "model cyclegan for a plain one"):
        api.create_model("ugatit", **{**TINY, "generator": "resnet"}).build()


def test_losses_are_the_standard_forms():
    logits = torch.tensor([[0.0, 2.0]])
    assert least_squares(logits, 1).item() == pytest.approx((1 + 1) / 2)
    assert least_squares(logits, 0).item() == pytest.approx((0 + 4) / 2)
    # BCE with logits: -log(sigmoid(x)) for target 1, -log(1 - sigmoid(x)) for target 0.
    assert domain_classification(torch.tensor([0.0]), 1).item() == pytest.approx(np.log(2))
    assert domain_classification(torch.tensor([3.0]), 0).item() == pytest.approx(-np.log(1 - 1 / (1 + np.exp(-3))))


def test_rho_stays_in_the_unit_interval_under_a_huge_learning_rate(tmp_path):
    """A rate of 0.5 throws rho far out of [0, 1] in one step; the generator's after-step hook clips it back."""
    result = check_model_contract("ugatit", tmp_path, steps=2, **{**TINY, "lr": 0.5, "weight_decay": 0.0})
    loaded = api.load_checkpoint(result.checkpoint)
    rhos = torch.cat([m.rho.detach().flatten() for name in ("gen_a2b", "gen_b2a")
                      for m in loaded.nets[name].modules() if isinstance(m, (AdaLIN, LIN))])
    assert rhos.min() >= 0 and rhos.max() <= 1
    assert (rhos == 0).any() and (rhos == 1).any()  # pushed out on both sides and clipped to the bounds


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    result = check_model_contract("ugatit", tmp_path_factory.mktemp("ugatit"), steps=3, **TINY)
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [row for row in rows if "loss_g" in row]
    assert len(steps) == 3 and all(np.isfinite(row["loss_cam"]) and row["loss_cycle"] > 0 for row in steps)
    return result.checkpoint


def test_training_writes_figure_5_grids(checkpoint):
    grids = sorted((checkpoint.parent.parent / "samples").glob("*.png"))
    from PIL import Image

    width, height = Image.open(grids[-1]).size
    assert (width - 2) // (32 + 2) == 10  # real, heatmap, translated, reconstructed, identity; both directions


def test_translate_one_photo_keeps_its_size(tmp_path, checkpoint):
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    photo = skimage_data.astronaut()[:400]  # not square: resized to 32 px, written back at 512 x 400
    Image.fromarray(photo).save(tmp_path / "astronaut.png")
    result = gankit("translate", str(tmp_path / "astronaut.png"), "--checkpoint", str(checkpoint),
                    "-o", str(tmp_path / "cartoon.png"))
    assert result.returncode == 0, result.stderr
    out = np.asarray(Image.open(tmp_path / "cartoon.png"))
    assert out.shape == photo.shape and not np.array_equal(out, photo)


def test_translate_a_folder_both_ways(tmp_path, checkpoint):
    made = gankit("data", "synth", "--n", "3", "--size", "48", "--out", str(tmp_path / "faces" / "nested"))
    assert made.returncode == 0, made.stderr
    for direction in ("a2b", "b2a"):
        result = gankit("translate", str(tmp_path / "faces"), "--checkpoint", str(checkpoint),
                        "--direction", direction, "-o", str(tmp_path / "out"))
        assert result.returncode == 0, result.stderr
        written = sorted((tmp_path / "out" / "nested").glob(f"*-{direction}.png"))
        assert len(written) == 3 and "wrote 3 images" in result.stdout


def test_translate_a_folder_skips_a_corrupt_image_translates_the_rest_and_exits_1(tmp_path, checkpoint):
    made = gankit("data", "synth", "--n", "2", "--size", "48", "--out", str(tmp_path / "faces"))
    assert made.returncode == 0, made.stderr
    (tmp_path / "faces" / "aa-broken.png").write_bytes(b"not a png")  # sorts first
    result = gankit("translate", str(tmp_path / "faces"), "--checkpoint", str(checkpoint), "-o", str(tmp_path / "out"))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: 1 of 3 images could not be read")
    assert "aa-broken.png" in result.stderr and "wrote 2 images" in result.stdout
    assert len(list((tmp_path / "out").glob("*-a2b.png"))) == 2


def test_translate_errors_are_one_line(tmp_path, checkpoint):
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken.png").write_bytes(b"not a png")
    cases = [
        ((str(tmp_path / "missing.png"), "--checkpoint", str(checkpoint)), "image or folder not found"),
        ((str(tmp_path / "empty"), "--checkpoint", str(checkpoint)), "is empty"),
        ((str(tmp_path / "broken.png"), "--checkpoint", str(checkpoint)), "cannot read image"),
        ((str(tmp_path / "broken.png"), "--checkpoint", str(tmp_path / "nothing")), "not found"),
    ]
    for args, message in cases:
        result = gankit("translate", *args, "-o", str(tmp_path / "out"))
        assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
        assert message in result.stderr


def test_eval_reports_translation_beside_the_identity_baseline(checkpoint):
    result = gankit("eval", "ugatit", "--checkpoint", str(checkpoint), "-n", "4", "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    for direction in ("a2b", "b2a"):
        for method in ("", "identity_"):
            for metric in ("kid", "fid", "ssim", "psnr"):
                assert np.isfinite(scores[f"{direction}/{method}{metric}"]), (direction, method, metric)
    # The identity baseline compares a photo with its cartoon twin: related but far from equal.
    assert 0 < scores["a2b/identity_ssim"] < 0.95 and scores["a2b/identity_psnr"] < 30
    # The classical tools, on the same faces: OpenCV's cartoon filter (photo -> cartoon) and closing + blur + grain
    # (cartoon -> photo) come closer to the twins than the unchanged input.
    for direction, tool in (("a2b", "cartoon_filter"), ("b2a", "smooth_noise")):
        assert scores[f"{direction}/{tool}_ssim"] > scores[f"{direction}/identity_ssim"] + 0.05, direction
        assert np.isfinite(scores[f"{direction}/{tool}_kid"])


def test_the_paired_oracle_trains_on_twins_and_eval_reports_the_gap_it_leaves(tmp_path, checkpoint):
    refused = gankit("run", "ugatit", "--set", "paired_weight=100", "--steps", "1", "--out", str(tmp_path / "no"))
    assert refused.returncode != 0 and "paired=true" in refused.stderr and "Traceback" not in refused.stderr
    oracle = check_model_contract("ugatit", tmp_path, steps=2, **{**TINY, "paired_weight": 100.0,
                                                                  "data": "synthetic-unpaired:n=16,identities=8,paired=true"})
    rows = [json.loads(line) for line in (oracle.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(row["loss_paired"] > 0 for row in rows if "loss_g" in row)
    result = gankit("eval", "ugatit", "--checkpoint", str(checkpoint), "--baseline", str(oracle.checkpoint), "-n", "4",
                    "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    for direction in ("a2b", "b2a"):
        for metric in ("kid", "ssim", "psnr"):
            start, best = scores[f"{direction}/identity_{metric}"], scores[f"{direction}/oracle_{metric}"]
            closed = (scores[f"{direction}/{metric}"] - start) / (best - start)
            assert scores[f"{direction}/{metric}_gap_closed"] == pytest.approx(closed)

