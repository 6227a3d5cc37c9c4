"""``--log mlflow``: a run's params, metrics and artifacts, read back with MLflow's own client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from gankit_core import api
from gankit_core.errors import GankitError
from gankit_core.testing import TINY_DATA

TINY = {"image_size": 32, "g_features": 8, "d_features": 8, "latent_dim": 16, "batch_size": 4, "data": TINY_DATA}
SETTINGS = {"device": "cpu", "precision": "fp32", "progress": False, "log_every": 1, "sample_every": 2,
            "num_samples": 4}


def test_params_metrics_and_artifacts_read_back_and_a_resume_continues_the_mlflow_run(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'store' / 'runs.db'}"
    (tmp_path / "store").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "faces")
    monkeypatch.chdir(tmp_path)  # the store's artifacts go to ./mlruns
    result = api.train(api.create_model("dcgan", **TINY), out=tmp_path / "run", steps=4, log=["mlflow"], **SETTINGS)

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("faces")
    [found] = client.search_runs([experiment.experiment_id])
    record = json.loads((result.run_dir / "mlflow-run.json").read_text())
    assert record == {"tracking_uri": uri, "run_id": found.info.run_id}
    assert found.info.status == "FINISHED" and found.info.run_name == "run"
    assert found.data.params["config.image_size"] == "32" and found.data.params["train.steps"] == "4"
    assert found.data.tags["gankit.model"] == "dcgan"
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    rows = [row for row in rows if "event" not in row]
    history = client.get_metric_history(found.info.run_id, "loss_g")
    assert [m.step for m in history] == [1, 2, 3, 4]
    assert [m.value for m in history] == pytest.approx([row["loss_g"] for row in rows], rel=1e-9)
    artifacts = {a.path for a in client.list_artifacts(found.info.run_id)}
    assert {"config.toml", "report.html", "samples"} <= artifacts
    grids = {a.path for a in client.list_artifacts(found.info.run_id, "samples")}
    assert grids == {"samples/step-000002.png", "samples/step-000004.png"}
    local = client.download_artifacts(found.info.run_id, "samples/step-000004.png", str(tmp_path))
    assert Path(local).read_bytes() == (result.run_dir / "samples" / "step-000004.png").read_bytes()

    api.resume(result.run_dir, steps=6)
    [again] = client.search_runs([experiment.experiment_id])
    assert again.info.run_id == found.info.run_id and again.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(again.info.run_id, "loss_g")] == [1, 2, 3, 4, 5, 6]


def test_without_a_tracking_uri_the_store_is_mlflow_db_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    result = api.train(api.create_model("dcgan", **TINY), out=tmp_path / "run", steps=2, log=["mlflow"], **SETTINGS)
    uri = f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert json.loads((result.run_dir / "mlflow-run.json").read_text())["tracking_uri"] == uri
    client = MlflowClient(uri)
    [found] = client.search_runs([client.get_experiment_by_name("gankit").experiment_id])
    assert [m.step for m in client.get_metric_history(found.info.run_id, "loss_d")] == [1, 2]


def test_without_mlflow_the_run_stops_with_one_line_before_it_starts(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(GankitError) as raised:
        api.train(api.create_model("dcgan", **TINY), out=tmp_path / "run", steps=2, log=["mlflow"], **SETTINGS)
    assert str(raised.value) == ("--log mlflow needs mlflow, not installed: pip install mlflow-skinny sqlalchemy "
                                 "alembic (or pip install gankit-mlflow)")
    assert not (tmp_path / "run").exists()


def test_a_tracking_server_that_does_not_answer_stops_the_run_in_one_line_before_it_starts(tmp_path, monkeypatch):
    """MLflow's client retries an unreachable server for minutes; a closed port is refused at once, by name."""
    import socket

    with socket.socket() as closed:  # a port that was free a moment ago: nothing listens on it
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    with pytest.raises(GankitError) as raised:
        api.train(api.create_model("dcgan", **TINY), out=tmp_path / "run", steps=2, log=["mlflow"], **SETTINGS)
    assert str(raised.value) == (f"--log mlflow: the tracking server http://127.0.0.1:{port} (MLFLOW_TRACKING_URI) "
                                 "does not answer (Connection refused); start it, or unset MLFLOW_TRACKING_URI to "
                                 "log to ./mlflow.db")
    assert not (tmp_path / "run").exists()
