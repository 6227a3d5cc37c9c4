"""The recipe interface: several inference networks, stages (freezing, resume across a boundary, one stage alone,
a later stage from an earlier run), per-optimizer settings and hooks, generate vs the display grid, and the
declared Model attributes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gankit_core import api
from gankit_core.engine import Trainer
from gankit_core.engine import checkpoint as ckpt
from gankit_core.errors import ConfigError
from gankit_core.interfaces import Model
from gankit_core.testing import check_model_contract, registered_plugin

sys.path.insert(0, str(Path(__file__).parent))
from tiny_models import TinyModels  # noqa: E402

HERE = Path(__file__).parent


@pytest.fixture
def tiny_models():
    with registered_plugin(TinyModels()) as plugins:
        yield plugins


def settings(**values):
    return api.train_settings({"device": "cpu", "precision": "fp32", "progress": False, "log_every": 1, **values})


def metric_rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in ckpt.read(path).tensors.items() if k.startswith(("net/", "ema/"))}


def test_two_stage_two_generator_model_passes_the_plugin_contract(tiny_models, tmp_path):
    result = check_model_contract("two-stage", tmp_path, pretrain_steps=2, adversarial_steps=2, ema_decay=0.5)
    assert result.step == 4
    saved = ckpt.read(result.checkpoint)
    assert saved.has_module("gen_noise", "ema") and saved.has_module("gen_image", "ema")
    assert not saved.has_module("autoencoder", "ema")  # only inference networks are EMA'd


def test_stages_train_their_networks_and_freeze_the_rest(tiny_models, tmp_path):
    model = api.create_model("two-stage", ema_decay=0.5)
    result = Trainer(model, settings(checkpoint_every=1, keep=0), run_dir=tmp_path / "run").fit()
    assert result.step == 6
    rows = metric_rows(tmp_path / "run")
    assert [(r["stage"], r["step"]) for r in rows if r.get("event") == "stage"] == [("pretrain", 0), ("adversarial", 3)]
    assert [r["stage"] for r in rows if "event" not in r] == ["pretrain"] * 3 + ["adversarial"] * 3
    after_pretrain = weights(tmp_path / "run" / "checkpoints" / "step-000003.safetensors")
    final = weights(result.checkpoint)
    start = weights(tmp_path / "run" / "checkpoints" / "step-000001.safetensors")
    for key, value in final.items():
        if key.startswith("net/autoencoder/"):
            # frozen in eval mode: weights and batch-norm statistics do not move in the adversarial stage
            assert torch.equal(value, after_pretrain[key]), key
        elif key.startswith("net/gen_noise/") and key.endswith("weight"):
            assert not torch.equal(value, after_pretrain[key]), f"{key} did not train in the adversarial stage"
    assert not torch.equal(start["net/autoencoder/1.running_mean"], after_pretrain["net/autoencoder/1.running_mean"])
    # the generators waited: untouched during the pretrain stage
    assert torch.equal(start["net/gen_noise/0.weight"], after_pretrain["net/gen_noise/0.weight"])
    report = (tmp_path / "run" / "report.html").read_text()
    assert "pretrain (steps 0-3), adversarial (steps 3-6)" in report
    assert report.count('class="stage-start"') >= 2  # each chart marks where the adversarial stage starts


def test_optimizers_get_their_own_class_rate_decay_schedule_and_hook(tiny_models, tmp_path):
    model = api.create_model("two-stage", scale_limit=0.5)
    trainer = Trainer(model, settings(), run_dir=tmp_path / "run")
    result = trainer.fit()
    optimizers = {name: o.optimizer for name, o in trainer.state.optimization.optimizers.items()}
    assert type(optimizers["generators"]).__name__ == "AdamW"
    assert type(optimizers["critic"]).__name__ == "RMSprop"
    assert optimizers["generators"].param_groups[0]["weight_decay"] == 1e-4
    assert optimizers["generators"].param_groups[0]["betas"] == (0.5, 0.999)
    # linear-half over the 3-step pretrain stage: constant for 1 step, then down towards zero
    rates = [r["lr"] for r in metric_rows(result.run_dir) if "event" not in r][:3]
    assert rates == pytest.approx([1e-2, 1e-2, 1e-2 * 0.5])
    assert 0.0 <= float(trainer.modules["gen_image"].scale.detach()) <= 0.5  # the after-step hook clipped it
    assert float(ckpt.read(result.checkpoint).tensors["net/gen_image/scale"]) <= 0.5


def test_resume_across_the_stage_boundary_is_bit_identical(tiny_models, tmp_path):
    model = lambda: api.create_model("two-stage", ema_decay=0.5)  # noqa: E731
    straight = Trainer(model(), settings(), run_dir=tmp_path / "straight").fit()
    Trainer(model(), settings(steps=2), run_dir=tmp_path / "split").fit()  # stops inside the pretrain stage
    resumed = api.resume(tmp_path / "split", steps=6, progress=False)
    assert resumed.step == 6
    first, second = weights(straight.checkpoint), weights(resumed.checkpoint)
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key
    assert ckpt.read(resumed.checkpoint).meta("stage") == "adversarial"


def test_resume_of_cregan_in_bf16_with_n_critic_and_a_step_schedule_is_bit_identical(tmp_path):
    values = {"image_size": 64, "batch_size": 4, "g_width": 4, "d_width": 4, "n_critic": 3,
              "lr_schedule": "step:2:0.5", "data": "synthetic-faces:n=16,identities=8"}
    straight = Trainer(api.create_model("cregan", **values), settings(steps=6, precision="bf16"),
                       run_dir=tmp_path / "straight").fit()
    Trainer(api.create_model("cregan", **values), settings(steps=4, precision="bf16"), run_dir=tmp_path / "split").fit()
    resumed = api.resume(tmp_path / "split", steps=6, progress=False)
    first, second = weights(straight.checkpoint), weights(resumed.checkpoint)
    for key in first:
        assert torch.equal(first[key], second[key]), key
    straight_rows = [r for r in metric_rows(tmp_path / "straight") if "event" not in r]
    resumed_rows = [r for r in metric_rows(tmp_path / "split") if "event" not in r]
    assert [r["loss_d"] for r in straight_rows] == [r["loss_d"] for r in resumed_rows]


def test_one_stage_alone_then_the_next_from_its_weights(tiny_models, tmp_path):
    first = Trainer(api.create_model("two-stage"), settings(stage="pretrain"), run_dir=tmp_path / "pre").fit()
    assert first.step == 3
    assert {r.get("stage") for r in metric_rows(first.run_dir) if "event" not in r} == {"pretrain"}
    second = Trainer(api.create_model("two-stage"), settings(stage="adversarial", steps=2, init_from=str(first.run_dir)),
                     run_dir=tmp_path / "adv").fit()
    assert second.step == 2
    pre, adv = weights(first.checkpoint), weights(second.checkpoint)
    autoencoder = [k for k in pre if k.startswith("net/autoencoder/")]
    assert autoencoder and all(torch.equal(pre[k], adv[k]) for k in autoencoder)
    with pytest.raises(ConfigError, match="no stage 'finetune'; its stages are pretrain, adversarial"):
        Trainer(api.create_model("two-stage"), settings(stage="finetune"), write=False)
    with pytest.raises(ConfigError, match="trains in stages"):
        Trainer(api.create_model("two-stage"), settings(epochs=1), write=False)


def test_cli_trains_one_stage_and_starts_the_next_from_it(tmp_path):
    env_plugin = f"import sys; sys.path.insert(0, {str(HERE)!r})"
    script = (f"{env_plugin}\nfrom tiny_models import TinyModels\nfrom gankit_core.testing import registered_plugin\n"
              "from gankit_core.cli import main\nimport sys\nwith registered_plugin(TinyModels()):\n"
              "    sys.argv = ['gankit', *sys.argv[1:]]\n    main()\n")
    runner = tmp_path / "gankit_with_tiny.py"
    runner.write_text(script)

    def gankit(*args):
        return subprocess.run([sys.executable, str(runner), *args], capture_output=True, text=True)

    first = gankit("run", "two-stage", "--stage", "pretrain", "--out", str(tmp_path / "pre"), "--no-progress")
    assert first.returncode == 0, first.stderr
    second = gankit("run", "two-stage", "--stage", "adversarial", "--init-from", str(tmp_path / "pre"),
                    "--steps", "2", "--out", str(tmp_path / "adv"), "--no-progress")
    assert second.returncode == 0, second.stderr
    bad = gankit("run", "two-stage", "--stage", "nope", "--out", str(tmp_path / "bad"))
    assert bad.returncode != 0 and bad.stderr.strip().splitlines() == [
        "error: model 'two-stage' has no stage 'nope'; its stages are pretrain, adversarial"]
    info = gankit("info", "two-stage")
    assert "stage pretrain (3 steps): trains autoencoder" in info.stdout
    assert "frozen: autoencoder" in info.stdout


def test_generate_gives_generated_images_only_not_the_display_grid(tmp_path):
    """FID/KID consume generate(): for cregan, G's exchanged faces, never the real faces its grid shows."""
    values = {"image_size": 64, "batch_size": 4, "g_width": 4, "d_width": 4, "data": "synthetic-faces:n=16,identities=8"}
    result = Trainer(api.create_model("cregan", **values), settings(steps=1), run_dir=tmp_path / "run").fit()
    loaded = api.load_checkpoint(result.checkpoint)
    generated = api.generate(loaded, 6, batch_size=4)
    assert generated.shape == (6, 3, 64, 64) and generated.dtype == torch.uint8
    inputs = loaded.inputs(3)
    with torch.no_grad():
        exchanged, _, _ = loaded.model.swap(loaded.nets, inputs["a"], inputs["b"], inputs["boxes_a"], inputs["boxes_b"])
        grid = loaded.model.sample(loaded.nets, inputs)
    assert torch.allclose(loaded.generate(3), exchanged.float().cpu().clamp(-1, 1))  # generate clips to the image range
    assert grid.shape[0] == 3 * 4  # the display: A, B, paste, G per row
    reals = inputs["a"].cpu()
    for image in loaded.generate(3):
        assert not any(torch.equal(image, real) for real in reals)


def test_every_attribute_the_engine_reads_is_declared_on_model():
    declared = {"name", "Config", "inference_networks", "batch_fields", "channels_last_on_cpu", "default_steps",
                "log_epochs", "sample_columns", "sample_needs_data", "own_metrics", "default_metrics"}
    assert declared <= set(vars(Model))
    engine = Path(api.__file__).parent
    sources = [path.read_text() for path in [*engine.glob("*.py"), *(engine / "engine").glob("*.py")]]
    for source in sources:
        for probe in ("getattr(self.model", "hasattr(self.model", "getattr(model,", "hasattr(model,",
                      "getattr(loaded.model", "hasattr(loaded.model"):
            assert probe not in source, f"the core probes a model attribute with {probe!r}: declare it on Model"


def test_a_component_swaps_in_by_name_when_its_inputs_match(tmp_path):
    """cregan's critic replaced by DCGAN's through --set: components take the declared common arguments."""
    model = api.create_model("cregan", image_size=64, batch_size=4, g_width=4, d_width=4,
                             discriminator="global-local", generator="dilated")
    nets = model.build()
    assert type(nets["generator"]).__name__ == "DilatedGenerator"
    generator = api.create_component("generator", "dcgan", image_size=32, width=4, latent_dim=8, not_its_argument=1)
    assert generator(torch.zeros(2, 8, 1, 1)).shape == (2, 3, 32, 32)


@pytest.mark.parametrize(("model", "assignment", "message"), [
    ("cregan", "k=0", "error: model 'cregan' cannot build its networks with this config: local mask needs"),
    ("dcgan", "beta1=2.0", "error: model 'dcgan': Invalid beta parameter at index 0: 2.0"),
    # sizes and rates are checked before anything is built (gankit_core.config.check_sizes_and_rates)
    ("cregan", "g_width=-1", "error: g_width must be at least 1, not -1"),
    ("dcgan", "lr=-1", "error: lr must be a positive learning rate, not -1.0"),
])
def test_a_value_the_networks_or_optimizers_refuse_is_one_line(model, assignment, message, tmp_path):
    result = subprocess.run([sys.executable, "-m", "gankit_core", "run", model, "--set", assignment, "--steps", "1",
                             "--out", str(tmp_path / "run"), "--no-progress"], capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
