"""The trackers together, from the command line: ``gankit run dcgan --steps 50 --log tensorboard --log mlflow``
leaves data that TensorBoard and MLflow read back (issue 22's done line), and ``gankit list`` shows them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gankit_core.testing import TINY_DATA

EventAccumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator", reason="gankit-tensorboard is not installed").EventAccumulator
mlflow = pytest.importorskip("mlflow", reason="gankit-mlflow is not installed")


def gankit(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gankit_core", *args], capture_output=True, text=True, check=False,
                          env={**os.environ, **env})


def test_a_dcgan_run_logged_to_tensorboard_and_mlflow_reads_back_in_both(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "gankit_core", "run", "dcgan", "--steps", "50", "--log", "tensorboard", "--log", "mlflow",
         "--image-size", "32", "--batch-size", "4", "--set", "g_features=8", "--set", "d_features=8",
         "--set", "latent_dim=16", "--data", TINY_DATA, "--sample-every", "25", "--no-progress", "--out", str(run)],
        capture_output=True, text=True, check=False, cwd=tmp_path, env={**os.environ, "MLFLOW_TRACKING_URI": uri})
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr.lower() and "INFO" not in result.stderr, result.stderr  # trackers are quiet
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [row["step"] for row in rows if "event" not in row]
    assert steps == list(range(10, 51, 10))  # every --log-every (10) step

    grids = sorted(path.name for path in (run / "samples").glob("*.png"))  # dcgan also draws one every epoch
    assert {"step-000025.png", "step-000050.png"} <= set(grids)

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0}).Reload()
    assert [event.step for event in events.Scalars("loss_g")] == steps
    drawn = [event.step for event in events.Images("samples")]
    assert len(drawn) == len(grids) and {25, 50} <= set(drawn)

    client = mlflow.MlflowClient(uri)
    [found] = client.search_runs([client.get_experiment_by_name("gankit").experiment_id])
    assert found.info.status == "FINISHED" and found.data.params["train.log"] == "['tensorboard', 'mlflow']"
    assert [metric.step for metric in client.get_metric_history(found.info.run_id, "loss_g")] == steps
    stored = {a.path for a in client.list_artifacts(found.info.run_id, "samples")}
    assert stored == {f"samples/{name}" for name in grids}


def test_gankit_list_shows_every_tracker_with_its_plugin():
    listed = gankit("list", "--kind", "callback", "--json")
    assert listed.returncode == 0, listed.stderr
    plugins = {row["name"]: row["plugin"] for row in json.loads(listed.stdout)}
    assert {"tensorboard": "gankit-tensorboard", "mlflow": "gankit-mlflow", "wandb": "gankit-wandb"}.items() <= \
        plugins.items()
