"""Model cyclegan: its defaults, Table 1's counts through `gankit info`, training with the history pool, then
`gankit translate` and `gankit eval` on the trained checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import torch

from gankit_core import api
from gankit_core.interfaces import Networks
from gankit_core.testing import check_model_contract

TINY = {"image_size": 32, "g_width": 8, "d_width": 8, "n_blocks": 2, "batch_size": 4, "pool_size": 6,
        "data": "synthetic-unpaired:n=16,identities=8"}


def gankit(*args):
    return subprocess.run([sys.executable, "-m", "gankit_core", *args], capture_output=True, text=True)


def test_defaults_are_cyclegans_with_paper_001_shared_settings():
    model = api.create_model("cyclegan")
    c = model.config
    assert (c.image_size, c.batch_size, c.lr, c.lr_schedule) == (256, 10, 1e-4, "linear-half")
    assert (c.cycle_weight, c.identity_weight, c.pool_size, c.n_blocks, c.d_layers) == (10, 5, 50, 9, 3)
    assert model.inference_networks == ("gen_a2b", "gen_b2a")


def test_gankit_info_reports_table_1_counts():
    result = gankit("info", "cyclegan", "--json")
    assert result.returncode == 0, result.stderr
    networks = json.loads(result.stdout)["networks"]
    assert networks["gen_a2b"]["params"] == networks["gen_b2a"]["params"] == 11_378_179
    assert networks["disc_a"]["params"] == networks["disc_b"]["params"] == 2_764_737


def test_end_to_end_train_translate_eval(tmp_path):
    result = check_model_contract("cyclegan", tmp_path, steps=3, **TINY)
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [row for row in rows if "loss_g" in row]
    assert len(steps) == 3 and all(row["loss_cycle"] > 0 and row["loss_d"] > 0 for row in steps)

    # The history pools are checkpointed: full after 3 steps of 4 fakes (6 places), holding generated images.
    loaded = api.load_checkpoint(result.checkpoint)
    for domain in ("a", "b"):
        pool = loaded.nets[f"pool_{domain}"]
        assert int(pool.count) == 6 and pool.images.abs().sum(dim=(1, 2, 3)).min() > 0

    from PIL import Image

    photo = (np.random.default_rng(0).random((40, 70, 3)) * 255).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    translated = gankit("translate", str(tmp_path / "photo.png"), "--checkpoint", str(result.checkpoint),
                        "--direction", "b2a", "-o", str(tmp_path / "out"))
    assert translated.returncode == 0, translated.stderr
    assert np.asarray(Image.open(tmp_path / "out" / "photo-b2a.png")).shape == photo.shape

    evaluated = gankit("eval", "cyclegan", "--checkpoint", str(result.checkpoint), "-n", "4", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    scores = json.loads(evaluated.stdout)
    assert {f"a2b/{m}" for m in ("kid", "fid", "ssim", "psnr", "identity_kid", "identity_ssim")} <= set(scores)
    assert all(np.isfinite(value) for value in scores.values())


def test_sample_grid_shows_both_directions():
    model = api.create_model("cyclegan", **TINY)
    nets = Networks(model.build())
    batch = {"image": torch.rand(3, 3, 32, 32) * 2 - 1, "image_b": torch.rand(3, 3, 32, 32) * 2 - 1}
    inputs = model.sample_inputs(2, batch, torch.Generator().manual_seed(0))
    with torch.no_grad():
        images = model.sample(nets, inputs)
    assert images.shape == (2 * model.sample_columns, 3, 32, 32)
    assert torch.equal(images[0], batch["image"][0]) and torch.equal(images[4], batch["image_b"][0])
    with torch.no_grad():
        assert torch.allclose(images[1], nets["gen_a2b"](batch["image"][:1])[0], atol=1e-5)  # the translation, beside its source

