"""The engine: precision paths, the gradient penalty under autocast, exact resume, Ctrl-C, bad checkpoints,
the NaN guard, schedules, EMA and the image pool (data parallel: test_ddp.py)."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gankit_core import api
from gankit_core.engine import Trainer, TrainingDiverged
from gankit_core.engine import checkpoint as ckpt
from gankit_core.engine.helpers import GeneratorEMA, ImagePool
from gankit_core.engine.optim import Optimization
from gankit_core.engine.precision import Precision, choose_precision, cpu_has_native_bf16
from gankit_core.engine.schedules import parse_schedule
from gankit_core.engine.step import TrainingStep
from gankit_core.errors import CheckpointError, ConfigError
from gankit_core.testing import registered_plugin

sys.path.insert(0, str(Path(__file__).parent))
from tiny_models import TinyModels  # noqa: E402

HERE = Path(__file__).parent
TINY_DCGAN = {"image_size": 32, "batch_size": 8, "g_features": 8, "d_features": 8, "latent_dim": 16,
              "data": "synthetic-faces:n=32,identities=8"}


def settings(**values):
    return api.train_settings({"device": "cpu", "precision": "fp32", "progress": False, "log_every": 1, **values})


def gankit(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "gankit_core", *args], capture_output=True, text=True, **kwargs)


@pytest.fixture
def tiny_models():
    with registered_plugin(TinyModels()) as plugins:
        yield plugins


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_every_precision_trains_with_finite_losses(precision, tmp_path):
    model = api.create_model("dcgan", **TINY_DCGAN)
    result = Trainer(model, settings(steps=2, precision=precision), run_dir=tmp_path).fit()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2]
    for row in rows:
        assert all(torch.isfinite(torch.tensor(row[k])) for k in ("loss_d", "loss_g", "real_score", "fake_score"))
    assert result.checkpoint.is_file()
    assert ckpt.read(result.checkpoint).meta("precision") == precision


def test_auto_precision_follows_the_hardware():
    expected = "bf16" if cpu_has_native_bf16() else "fp32"
    assert choose_precision("auto", torch.device("cpu")) == expected
    with pytest.raises(ConfigError, match="unknown precision"):
        choose_precision("fp8", torch.device("cpu"))


@pytest.mark.parametrize(("precision", "tolerance"), [("bf16", 0.03), ("fp16", 0.01)])
def test_gradient_penalty_under_autocast_matches_fp32(tiny_models, precision, tolerance):
    torch.manual_seed(0)
    model = api.create_model("tiny-wgan")
    trainer = Trainer(model, settings(steps=1, precision="fp32"), write=False)
    critic = trainer.modules["discriminator"]
    real, fake = torch.rand(8, 3, 32, 32) * 2 - 1, torch.rand(8, 3, 32, 32) * 2 - 1

    def penalty(mode):
        placement = dataclasses.replace(trainer.placement, precision=Precision(mode, trainer.placement.device))
        scalers = {"discriminator": torch.amp.GradScaler("cpu", init_scale=2.0**12)} if mode == "fp16" else {}
        optimization = Optimization(trainer.state.optimization.optimizers, scalers)
        noise = torch.Generator().manual_seed(5)
        step = TrainingStep(0, trainer.plan.at(0), 1, optimization=optimization, placement=placement, noise=noise)
        return step.gradient_penalty(critic, real, fake)

    reference = penalty("fp32")
    mixed = penalty(precision)
    assert mixed.dtype == torch.float32
    assert reference > 0
    assert abs(mixed.item() - reference.item()) <= tolerance * reference.item()
    # the penalty's own gradient reaches the critic's weights (biases do not change dD/dx)
    mixed.backward()
    weights = [p for p in critic.parameters() if p.dim() > 1]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0 for p in weights)


def run_steps(out: Path, steps: int, resume: bool = False):
    model = api.create_model("dcgan", **TINY_DCGAN, ema_decay=0.9, lr_schedule="step:3:0.5")
    return Trainer(model, settings(steps=steps, checkpoint_every=100, sample_every=100), run_dir=out,
                   resume_from=out if resume else None).fit()


def test_resume_is_bit_identical(tmp_path):
    straight = run_steps(tmp_path / "straight", 6)
    run_steps(tmp_path / "split", 3)
    resumed = run_steps(tmp_path / "split", 6, resume=True)
    a, b = load_file(straight.checkpoint), load_file(resumed.checkpoint)
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:5]
    assert any(k.startswith("ema/") for k in a) and any(k.startswith("optim/") for k in a)


def test_checkpoints_keep_the_newest_and_point_latest(tmp_path):
    model = api.create_model("dcgan", **TINY_DCGAN)
    Trainer(model, settings(steps=4, checkpoint_every=1, keep=2), run_dir=tmp_path).fit()
    names = sorted(p.name for p in (tmp_path / "checkpoints").glob("*.safetensors"))
    assert names == ["step-000003.safetensors", "step-000004.safetensors"]
    assert ckpt.resolve_latest(tmp_path).name == "step-000004.safetensors"
    assert not list((tmp_path / "checkpoints").glob("*.tmp"))


def test_bad_checkpoints_are_refused_with_one_line(tmp_path, tiny_models):
    model = api.create_model("dcgan", **TINY_DCGAN)
    result = Trainer(model, settings(steps=1), run_dir=tmp_path / "run").fit()
    data = result.checkpoint.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    for path in (truncated, garbage):
        with pytest.raises(CheckpointError, match="truncated or corrupt"):
            ckpt.read(path)
        shown = gankit("sample", "dcgan", "--checkpoint", str(path))
        assert shown.returncode == 1 and "Traceback" not in shown.stderr
        assert str(path) in shown.stderr and "truncated or corrupt" in shown.stderr
    wrong_model = gankit("sample", "cregan", "--checkpoint", str(result.checkpoint))
    assert wrong_model.returncode == 1
    assert wrong_model.stderr.strip().splitlines() == [
        f"error: {result.checkpoint}: checkpoint is from model 'dcgan', not 'cregan'"]
    with pytest.raises(CheckpointError, match="is from model 'dcgan', not 'tiny-wgan'"):
        api.load_checkpoint(result.checkpoint, model="tiny-wgan")
    wider = api.create_model("dcgan", **{**TINY_DCGAN, "g_features": 16})
    with pytest.raises(CheckpointError, match="incompatible config"):
        Trainer(wider, settings(steps=2), run_dir=tmp_path / "other", resume_from=result.checkpoint).fit()


def test_ctrl_c_saves_and_resume_continues(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "gankit_core", "run", "dcgan", "--steps", "100000", "--out", str(out),
               "--no-progress", "--log-every", "1", "--checkpoint-every", "100000", "--precision", "fp32",
               *[f"--set={k}={json.dumps(v)}" for k, v in TINY_DCGAN.items()]]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        metrics = out / "metrics.jsonl"
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 2:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "stopped by Ctrl-C" in stderr and f"gankit resume {out}" in stderr
    stopped_at = ckpt.read(out).step
    assert stopped_at >= 2
    resumed = gankit("resume", str(out), "--steps", str(stopped_at + 2), "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert ckpt.read(out).step == stopped_at + 2
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [row["step"] for row in rows if "event" not in row]  # epoch summaries aside
    assert steps == list(range(1, stopped_at + 3))  # one row per step, none repeated across the resume
    times = [row["time"] for row in rows if "event" not in row]
    assert times == sorted(times) and times[stopped_at] > times[stopped_at - 1]  # training time goes on, not from 0


def test_nan_guard_skips_then_stops(tiny_models, tmp_path):
    model = api.create_model("diverging")
    with pytest.raises(TrainingDiverged, match=r"NaN/Inf in 4 steps in a row.*last good checkpoint"):
        Trainer(model, settings(steps=50, nan_patience=4, checkpoint_every=2), run_dir=tmp_path).fit()
    assert ckpt.read(tmp_path).step == 2  # nothing written after the run went bad


def test_schedules():
    decay = parse_schedule("step:100:0.9")
    assert decay(0, 1000) == 1.0 and decay(250, 1000) == pytest.approx(0.81)
    half = parse_schedule("linear-half")
    assert half(400, 1000) == 1.0 and half(750, 1000) == pytest.approx(0.5) and half(1000, 1000) == 0.0
    with pytest.raises(ConfigError, match="unknown lr_schedule"):
        parse_schedule("cosine")


def test_ema_tracks_the_generator():
    network = torch.nn.Linear(2, 2)
    ema = GeneratorEMA(network, decay=0.9)
    before = ema.module.weight.detach().clone()
    with torch.no_grad():
        network.weight.add_(1.0)
    ema.update(network)
    assert torch.allclose(ema.module.weight, before + 0.1)
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_image_pool_returns_history_once_full():
    torch.manual_seed(0)
    pool = ImagePool(4, (1, 2, 2))
    first = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 1, 2, 2)
    assert torch.equal(pool.query(first), first)  # filling: images pass through
    later = torch.full((64, 1, 2, 2), 100.0)
    mixed = pool.query(later)
    from_history = (mixed[:, 0, 0, 0] < 100).sum().item()
    assert 0 < from_history < 64  # about half come from the history


def test_compiled_networks_train_and_checkpoint_plain_weights(tmp_path):
    model = api.create_model("dcgan", **TINY_DCGAN)
    result = Trainer(model, settings(steps=2, compile=True), run_dir=tmp_path).fit()
    assert all(torch.isfinite(torch.tensor(v)) for v in result.metrics.values())
    keys = load_file(result.checkpoint).keys()
    assert not any("_orig_mod" in key for key in keys)  # the compiled wrapper never reaches the checkpoint
    assert api.load_checkpoint(result.checkpoint).sample(2).shape == (2, 3, 32, 32)
