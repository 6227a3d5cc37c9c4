"""gankit bench against the machine's convolution peak (measured, cached per machine; the GPU path checked with
the hardware faked), and gankit bench --inference: torch against onnxruntime on the exported networks."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import torch

from gankit_core import api
from gankit_core.engine import bench, peak
from gankit_core.engine.peak import ConvShape, Peak, conv_peak, machine_key, measure_peak

# Large enough that its rate, rounded to 0.1 GFLOP/s, is above zero even on a loaded machine (28 MFLOP a call).
TINY = ConvShape("3x3 conv 16->16 on 32x32", 2, 16, 16, 3, 1, 1, 32)


def test_the_machine_key_names_the_cpu_threads_and_torch_or_the_gpu():
    two = machine_key(torch.device("cpu"), cpu="AMD EPYC 9654", threads=2)
    assert "AMD EPYC 9654" in two and "2 threads" in two and torch.__version__ in two
    four = machine_key(torch.device("cpu"), cpu="AMD EPYC 9654", threads=4)
    assert peak.cache_path(two) != peak.cache_path(four)
    gpu = machine_key(torch.device("cuda", 0), gpu="NVIDIA H200")
    assert gpu.startswith("GPU NVIDIA H200") and "thread" not in gpu and torch.__version__ in gpu


def test_a_cpu_peak_is_measured_on_real_convolutions():
    result = measure_peak(torch.device("cpu"), "fp32", shapes=(TINY,))
    assert result.precision == "fp32" and result.gflops > 0.01
    assert result.shapes == {TINY.label: result.gflops} and result.machine == machine_key(torch.device("cpu"))
    assert peak.conv_flops(TINY) == 3 * 2 * (2 * 16 * 16 * 9 * 32 * 32)  # forward, input and weight gradients


def test_a_gpu_peak_uses_large_batches_autotuned_cudnn_and_tf32(monkeypatch):
    calls = []

    def fake_time_shape(shape, device, precision, repeats, batch_scale, channels_last):
        calls.append((device.type, precision, repeats, batch_scale, channels_last,
                      torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32))
        return 1000.0 if channels_last else 800.0

    monkeypatch.setattr(peak, "time_shape", fake_time_shape)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    result = measure_peak(torch.device("cuda", 0), "bf16", machine="GPU NVIDIA H200, test")
    assert result.gflops == 1000.0 and len(result.shapes) == len(peak.SHAPES)
    assert {call[:4] for call in calls} == {("cuda", "bf16", 10, 64)}
    assert {call[4] for call in calls} == {False, True}  # both memory formats tried
    assert all(call[5] and call[6] for call in calls)  # as the engine trains on a GPU
    assert not torch.backends.cudnn.benchmark and not torch.backends.cudnn.allow_tf32  # restored after
    calls.clear()
    measure_peak(torch.device("cpu"), "bf16", machine="CPU test")
    assert {call[2:4] for call in calls} == {(3, 1)}


def test_the_peak_is_cached_per_machine_and_precision(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    measured = []

    def fake_measure(device, precision, shapes=peak.SHAPES, machine=None):
        measured.append(precision)
        return Peak(machine, precision, 100.0 * len(measured), {}, "2026-01-01 00:00")

    monkeypatch.setattr(peak, "measure_peak", fake_measure)
    cpu = torch.device("cpu")
    assert conv_peak(cpu, "bf16").gflops == 100.0
    assert conv_peak(cpu, "bf16").gflops == 100.0 and measured == ["bf16"]  # from the cache
    assert conv_peak(cpu, "fp32").gflops == 200.0 and conv_peak(cpu, "bf16").gflops == 100.0
    assert conv_peak(cpu, "bf16", remeasure=True).gflops == 300.0 and conv_peak(cpu, "bf16").gflops == 300.0
    path = peak.cache_path(machine_key(cpu))
    assert json.loads(path.read_text())["peaks"]["fp32"]["gflops"] == 200.0
    path.write_text("{not json")
    assert conv_peak(cpu, "fp32").gflops == 400.0  # a damaged cache is measured again


def test_bench_reports_its_share_of_the_peak(monkeypatch):
    monkeypatch.setattr(bench, "conv_peak", lambda device, precision, remeasure=False:
                        Peak("CPU test", precision, 50.0, {}, "2026-01-01 00:00"))
    model = api.create_model("dcgan", image_size=32, batch_size=4)
    result = bench.benchmark(model, api.train_settings({"device": "cpu", "precision": "fp32", "progress": False}),
                             steps=1, warmup=0)
    assert result.peak_gflops == 50.0 and result.share_of_peak == pytest.approx(result.gflops / 50.0, abs=1e-3)
    assert f"{result.share_of_peak:.0%} of this machine's fp32 convolution peak (50 GFLOP/s)" in bench.describe(result)


def test_gankit_bench_prints_the_share_of_the_cached_peak(tmp_path, monkeypatch):
    # a cached figure for this machine (keyed as the command's own process sees it), used rather than measured
    machine = subprocess.run([sys.executable, "-c", "import torch; from gankit_core.engine.peak import machine_key; "
                              "print(machine_key(torch.device('cpu')))"], capture_output=True, text=True).stdout.strip()
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    figure = {"machine": machine, "precision": "fp32", "gflops": 1234.0, "shapes": {}, "measured": "2026-01-01 00:00"}
    peak.cache_path(machine).write_text(json.dumps({"machine": machine, "version": peak.PEAK_VERSION,
                                                    "peaks": {"fp32": figure}}))
    result = subprocess.run([sys.executable, "-m", "gankit_core", "bench", "dcgan", "--image-size", "32",
                             "--batch-size", "4", "--precision", "fp32", "--steps", "1", "--warmup", "0"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "of this machine's fp32 convolution peak (1234 GFLOP/s)" in result.stdout


needs_onnx = pytest.mark.skipif(any(importlib.util.find_spec(name) is None
                                    for name in ("onnx", "onnxruntime", "onnxscript")),
                                reason="the export extra is not installed")


@needs_onnx
@pytest.mark.parametrize(("name", "overrides"), [
    ("dcgan", {"image_size": 32, "batch_size": 4}),
    # data-driven: generate builds exchange masks around the network, so onnxruntime runs inside the model's code
    ("cregan", {"image_size": 64, "batch_size": 2, "g_width": 8, "d_width": 8}),
])
def test_inference_is_timed_in_torch_and_onnxruntime_with_the_same_output(name, overrides):
    result = bench.benchmark_inference(api.create_model(name, **overrides), steps=1, warmup=0)
    assert result.onnx_missing is None and result.batch_size == overrides["batch_size"]
    runners = [row.runner for row in result.rows]
    assert runners[0].startswith("torch.no_grad() loop, fp32") and runners[-1].startswith("onnxruntime")
    assert all(row.images_per_s > 0 for row in result.rows)
    assert result.rows[-1].max_difference < 1e-3  # the same fp32 networks
    text = bench.describe(result)
    assert "images/s" in text and ("sample" in text if name == "dcgan" else "generate" in text)


def test_inference_without_onnx_says_why():
    result = bench.benchmark_inference(api.create_model("dcgan", image_size=32, batch_size=2), steps=1, warmup=0,
                                       onnx=False)
    assert result.onnx_missing == "not asked for" and "onnxruntime: not timed (not asked for)" in bench.describe(result)
