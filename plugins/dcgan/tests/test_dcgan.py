"""DCGAN: paper 002's architecture and defaults, training, sampling and evaluation."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from torch import nn

from gankit_core import api
from gankit_core.summary import count_parameters
from gankit_core.testing import check_model_contract

TINY = {"image_size": 32, "g_features": 8, "d_features": 8, "latent_dim": 16}


def test_defaults_are_paper_002_section_4_2():
    config = api.create_model("dcgan").config
    assert (config.batch_size, config.image_size, config.latent_dim) == (128, 64, 100)
    assert (config.g_features, config.d_features, config.lr, config.beta1) == (64, 64, 0.0002, 0.5)
    assert config.loss == "bce" and config.g_activation == "leaky_relu"


def test_parameter_counts_at_64():
    nets = api.create_model("dcgan").build()
    assert count_parameters(nets["generator"]) == 3_576_704
    assert count_parameters(nets["discriminator"]) == 2_765_568
    assert not any(isinstance(m, nn.Linear) for net in nets.values() for m in net.modules())  # no FC layers


@pytest.mark.parametrize("size", [32, 64, 128])
def test_shapes_at_every_supported_size(size):
    model = api.create_model("dcgan", image_size=size, g_features=8, d_features=8)
    nets = model.build()
    images = nets["generator"](torch.randn(3, 100, 1, 1))
    assert images.shape == (3, 3, size, size) and images.abs().max() <= 1
    assert nets["discriminator"](images).shape == (3,)


def test_relu_generator_is_one_set_away():
    model = api.create_model("dcgan", g_activation="relu")
    activations = {type(m) for m in model.build()["generator"].modules()}
    assert nn.ReLU in activations and nn.LeakyReLU not in activations


def test_contract_and_paper_004_logging(tmp_path):
    result = check_model_contract("dcgan", tmp_path, steps=8, data="synthetic-faces:n=16,identities=8", **TINY)
    lines = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    epochs = [row for row in lines if row.get("event") == "epoch"]
    assert len(epochs) == 2  # 16 images / batch 4 = 4 steps an epoch
    assert {"loss_g", "loss_d", "real_score", "fake_score"} <= set(epochs[0])
    assert (result.run_dir / "samples" / "epoch-001.png").is_file()
    # The scores are D's mean probabilities: by Jensen, the BCE loss_d of a step is at least
    # -log(real_score) - log(1 - fake_score) (logged logits, or swapped scores, break this), and D already
    # tells the real faces from the fakes in every epoch.
    for row in (row for row in lines if "event" not in row):
        assert row["loss_d"] >= -math.log(row["real_score"]) - math.log(1 - row["fake_score"]) - 1e-5
    assert all(epoch["real_score"] > epoch["fake_score"] for epoch in epochs)


def test_cartoon_data_and_sample_command(tmp_path):
    run = tmp_path / "run"
    args = ["--steps", "2", "--batch-size", "4", "--no-progress", "--out", str(run), "--data",
            "synthetic-faces:style=cartoon,n=16", *[f"--set={k}={v}" for k, v in TINY.items()]]
    trained = subprocess.run([sys.executable, "-m", "gankit_core", "run", "dcgan", *args], capture_output=True, text=True)
    assert trained.returncode == 0, trained.stderr
    out = tmp_path / "grid.png"
    sampled = subprocess.run([sys.executable, "-m", "gankit_core", "sample", "dcgan", "--checkpoint", str(run),
                              "-n", "9", "-o", str(out)], capture_output=True, text=True)
    assert sampled.returncode == 0, sampled.stderr
    from PIL import Image

    assert Image.open(out).size == (3 * 34 + 2, 3 * 34 + 2)  # 3 x 3 grid of 32 px with 2 px padding


def test_eval_reports_fid_and_kid_offline(tmp_path):
    result = check_model_contract("dcgan", tmp_path, steps=1, **TINY)
    scores = api.evaluate(result.checkpoint, ["fid", "kid"], count=6, data="synthetic-faces:n=16,identities=8")
    assert scores["fid"] > 0 and "kid" in scores


@pytest.mark.slow
def test_a_few_thousand_steps_make_faces(tmp_path):
    """Long: 64 px synthetic faces for 3000 steps; FID against real faces falls far below the start."""
    model = api.create_model("dcgan", batch_size=64)
    start = api.train(model, steps=1, out=tmp_path / "start", progress=False)
    result = api.train(api.create_model("dcgan", batch_size=64), steps=3000, out=tmp_path / "run", progress=False)
    before = api.evaluate(start.checkpoint, ["fid"], count=500)["fid"]
    after = api.evaluate(result.checkpoint, ["fid"], count=500)["fid"]
    assert after < 0.5 * before
