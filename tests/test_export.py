"""``gankit export``: every registered model's inference networks to ONNX, run in onnxruntime, against PyTorch."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gankit_core import api
from gankit_core.cli import cli
from gankit_core.engine import checkpoint as ckpt
from gankit_core.testing import TINY_DATA

onnx = pytest.importorskip("onnx", reason="the export extra is not installed (pip install 'gankit[export]')")
onnxruntime = pytest.importorskip("onnxruntime", reason="the export extra is not installed")

ROOT = Path(__file__).resolve().parents[1]

# The largest |onnxruntime - PyTorch| allowed on generated images in [-1, 1]: float32 kernels that sum in
# another order differ by about 1e-6 here (measured: DCGAN 4e-10, CREGAN 3e-6).
TOLERANCE = 1e-4

# How to make each model tiny enough to train one step in seconds. A model registered later needs an entry
# here (and, with several stages, stage lengths that shrink them) before its export is tested.
TINY_OVERRIDES: dict[str, dict] = {
    "dcgan": {"image_size": 32, "g_features": 8, "d_features": 8, "latent_dim": 16, "lr": 1e-2},
    "hinge-dcgan": {"image_size": 32, "g_features": 8, "d_features": 8, "latent_dim": 16, "lr": 1e-2},
    "cregan": {"image_size": 64, "g_width": 4, "d_width": 4, "lr": 1e-2, "g_lr": 1e-2, "n_critic": 1},  # G trains in step 1
    "ugatit": {"image_size": 32, "g_width": 8, "d_width": 8, "n_blocks": 2, "global_layers": 5, "local_layers": 4,
               "lr": 1e-2, "data": "synthetic-unpaired:n=16,identities=8"},
    "cyclegan": {"image_size": 32, "g_width": 8, "d_width": 8, "n_blocks": 2, "lr": 1e-2,
                 "data": "synthetic-unpaired:n=16,identities=8",  # the cpu preset's bases and filters export too
                 "residual": True, "base_a2b": "stylize", "base_b2a": "close-blur", "residual_blur_a2b": 0.8,
                 "residual_shrink": 16.0},
    "expression": {"image_size": 64, "g_width": 8, "d_width": 8, "fusion_width": 8, "fusion_d_width": 8,
                   "fusion_steps": 1, "transfer_steps": 1, "g_lr": 1e-2, "data": "synthetic-expression:n=16,identities=8"},
}


def train_tiny(name: str, out: Path):
    """One step (or each stage's shrunk length) of model ``name`` with an EMA, on 32 synthetic faces."""
    if name not in TINY_OVERRIDES:
        pytest.skip(f"model '{name}' has no entry in TINY_OVERRIDES (tests/test_export.py); add its tiny "
                    "config to test its ONNX export")
    model = api.create_model(name, **{"batch_size": 2, "data": TINY_DATA, "ema_decay": 0.5, **TINY_OVERRIDES[name]})
    staged = len(model.stages()) > 1
    return api.train(model, out=out, steps=None if staged else 1, device="cpu", precision="fp32", progress=False,
                     num_samples=2)


def torch_outputs(run_dir: Path, network: str, inputs: tuple, prefix: str) -> np.ndarray:
    """``network``'s output with the checkpoint's EMA (``prefix="ema"``) or trained (``"net"``) weights."""
    loaded = api.load_checkpoint(run_dir)
    module = loaded.nets[network]
    ckpt.read(run_dir).load_module(network, module, prefix=prefix)
    with torch.no_grad():
        return module(*inputs).numpy()


@pytest.mark.parametrize("name", api.list_models())
def test_every_model_exports_and_onnxruntime_matches_pytorch(name, tmp_path):
    from gankit_core.export import random_like

    run_dir = train_tiny(name, tmp_path / "run").run_dir
    model = api.load_checkpoint(run_dir).model
    output = tmp_path / "onnx" / f"{name}.onnx"
    result = CliRunner().invoke(cli, ["export", str(run_dir), "-o", str(output), "--dynamic-batch"])
    assert result.exit_code == 0, result.output
    networks = model.inference_networks
    files = {network: output if len(networks) == 1 else output.with_name(f"{name}-{network}.onnx")
             for network in networks}
    assert len(result.output.strip().splitlines()) == len(networks), result.output

    for network, path in files.items():
        assert f"wrote {path}: {network}" in result.output
        onnx.checker.check_model(str(path), full_check=True)
        metadata = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert metadata["gankit.model"] == name and metadata["gankit.network"] == network
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        examples = tuple(model.example_inputs(network))
        for batch in (1, 3):  # any batch size, as --dynamic-batch promises
            inputs = random_like(examples, batch, seed=batch)
            feeds = {spec.name: tensor.numpy() for spec, tensor in zip(session.get_inputs(), inputs, strict=True)}
            exported = session.run(None, feeds)[0]
            ema = torch_outputs(run_dir, network, inputs, "ema")
            assert exported.shape == ema.shape and exported.shape[0] == batch
            assert np.abs(exported - ema).max() <= TOLERANCE
        # The file holds the EMA weights, not the last trained ones (which differ by far more than the tolerance).
        trained = torch_outputs(run_dir, network, inputs, "net")
        assert np.abs(trained - ema).max() > 10 * TOLERANCE, "the tiny run's EMA equals its weights; raise lr"
        assert np.abs(exported - trained).max() > 10 * TOLERANCE


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory):
    return train_tiny("dcgan", tmp_path_factory.mktemp("dcgan") / "run").run_dir


def test_a_fixed_batch_export_and_the_documented_onnxruntime_example(dcgan_run, tmp_path):
    """docs/export.md's example runs as written, without torch, on a file exported with the default options."""
    output = tmp_path / "runs" / "dcgan" / "dcgan.onnx"
    result = CliRunner().invoke(cli, ["export", str(dcgan_run), "-o", str(output), "--opset", "18"])
    assert result.exit_code == 0, result.output
    assert re.search(r"input 2 x 16 x 1 x 1 -> output 2 x 3 x 32 x 32\), opset 18, max \|onnxruntime - torch\| ",
                     result.output), result.output
    example = re.search(r"```python\n(.*?)```", (ROOT / "docs" / "export.md").read_text(), re.S).group(1)
    assert len(example.strip().splitlines()) <= 12
    no_torch = "import sys; sys.modules['torch'] = None\n"  # importing torch would now fail
    ran = subprocess.run([sys.executable, "-c", no_torch + example], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, check=False)
    assert ran.returncode == 0, ran.stderr
    grid = tmp_path / "samples.png"
    from PIL import Image

    assert Image.open(grid).size == (2 * 32, 32)  # the example's two images side by side


def test_export_errors_are_one_line(dcgan_run, tmp_path, monkeypatch):
    runner = CliRunner()
    cases = [
        (["export", str(dcgan_run), "--network", "discriminator"],
         "error: model 'dcgan' has no inference network 'discriminator'; it exports generator"),
        (["export", str(dcgan_run), "-o", str(tmp_path / "out.txt")],
         "error: the output file must end in .onnx, not 'out.txt'"),
        (["export", str(tmp_path / "missing")], re.escape(f"error: checkpoint not found: {tmp_path / 'missing'}")),
        (["export", str(dcgan_run), "-o", str(tmp_path / "old.onnx"), "--opset", "9"],
         r"error: torch's exporter cannot convert network 'generator' to opset 9 \(it wrote its own, (\d+)\); the "
         r"supported opsets are \1 to \d+, and lower ones only where the exporter can convert the network"),
        (["export", str(dcgan_run), "-o", str(tmp_path / "old.onnx"), "--opset", "999"],
         r"error: --opset 999 is not an opset onnx [\d.]+ defines: give one up to \d+ .*"),
    ]
    for arguments, message in cases:
        result = runner.invoke(cli, arguments)
        assert result.exit_code == 1 and re.fullmatch(message, result.output.strip()), (arguments, result.output)
    assert not (tmp_path / "old.onnx").exists()
    blocked = tmp_path / "file"
    blocked.write_text("")  # a file where the output's folder should be (root ignores permissions)
    result = runner.invoke(cli, ["export", str(dcgan_run), "-o", str(blocked / "out.onnx")])
    assert result.exit_code == 1 and result.output.startswith(f"error: {blocked} is a file, so nothing can be "
                                                              "written under it"), result.output

    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "onnxruntime" else find_spec(name))
    result = runner.invoke(cli, ["export", str(dcgan_run)])
    assert (result.exit_code, result.output.strip()) == (
        1, "error: ONNX export needs the 'export' extra (onnxruntime missing): pip install 'gankit[export]'")


def test_the_export_extra_is_declared():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {re.split(r"[<>=]", requirement)[0] for requirement in extras["export"]} == {"onnx", "onnxruntime",
                                                                                       "onnxscript"}
    installed = re.search(r'-e "\.\[([\w,]+)\]"', (ROOT / "Makefile").read_text())
    assert installed and "export" in installed.group(1).split(",")  # so make install, and CI, test the export


def test_a_model_with_two_inference_networks_gets_one_file_each(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_models import TinyModels

    from gankit_core.testing import registered_plugin

    with registered_plugin(TinyModels()):
        model = api.create_model("two-stage", pretrain_steps=1, adversarial_steps=1, ema_decay=0.5)
        run_dir = api.train(model, out=tmp_path / "run", device="cpu", progress=False, num_samples=2).run_dir
        result = CliRunner().invoke(cli, ["export", str(run_dir), "-o", str(tmp_path / "out" / "tiny.onnx")])
        assert result.exit_code == 0, result.output
        single = CliRunner().invoke(cli, ["export", str(run_dir), "--network", "gen_image"])
        assert single.exit_code == 0, single.output
    written = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert written == ["tiny-gen_image.onnx", "tiny-gen_noise.onnx"]
    shapes = {network: [tuple(d.dim_value for d in value.type.tensor_type.shape.dim)
                        for value in onnx.load(str(tmp_path / "out" / f"tiny-{network}.onnx")).graph.input]
              for network in ("gen_noise", "gen_image")}
    assert shapes == {"gen_noise": [(2, 8)], "gen_image": [(2, 3, 32, 32)]}  # each from example_inputs
    assert (run_dir / "two-stage.onnx").is_file()  # --network NAME: the default name, one file


def test_a_model_whose_example_inputs_do_not_fit_its_network_is_named(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_models import TinyModels

    from gankit_core.testing import registered_plugin

    with registered_plugin(TinyModels()):  # tiny-wgan's generator takes noise; it keeps the default image input
        run_dir = api.train("tiny-wgan", out=tmp_path / "run", steps=1, device="cpu", progress=False,
                            num_samples=2).run_dir
        result = CliRunner().invoke(cli, ["export", str(run_dir)])
    assert result.exit_code == 1
    assert re.fullmatch(r"error: network 'generator' does not run on its model's example_inputs \(RuntimeError: .*\); "
                        r"the model must override example_inputs for it", result.output.strip()), result.output
