"""The MLflow tracker: a gankit run as an MLflow run, through MLflow's own client (``MlflowClient``).

Where it goes: ``MLFLOW_TRACKING_URI`` when set (a folder, ``sqlite:///...``, or a tracking server the user runs),
otherwise MLflow's own default, ``mlflow.db`` (SQLite) in the working directory with artifacts under ``./mlruns``,
which ``mlflow ui`` started in the same folder shows. The experiment is ``MLFLOW_EXPERIMENT_NAME`` or ``gankit``.
The run directory keeps ``mlflow-run.json`` (the store and the run id), so ``gankit resume`` continues the same
MLflow run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import math
import os
import socket
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path

from gankit_core.callbacks import Callback, RunInfo, RunStatus
from gankit_core.errors import GankitError

RECORD = "mlflow-run.json"
DEFAULT_EXPERIMENT = "gankit"
DEFAULT_STORE = "mlflow.db"  # MLflow 3's own default: SQLite in the working directory
STATUS = {"finished": "FINISHED", "interrupted": "KILLED", "failed": "FAILED"}
PARAMS_PER_CALL = 100  # MLflow's limit for one log_batch
PROBE_SECONDS = 5.0  # how long a tracking server may take to accept a connection


def tracking_uri(run: RunInfo) -> str:
    """MLFLOW_TRACKING_URI; else, for a resumed run, the store it started in; else ./mlflow.db (absolute, so a
    resume from another directory finds the same store)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    record = Path(run.run_dir) / RECORD
    if run.resumed and record.is_file():
        return json.loads(record.read_text())["tracking_uri"]
    return f"sqlite:///{Path.cwd().resolve() / DEFAULT_STORE}"


@contextlib.contextmanager
def quiet_store_setup() -> Iterator[None]:
    """A new SQLite store logs its table migrations at INFO; the run's terminal need not show them."""
    loggers = [logging.getLogger(name) for name in ("mlflow.store.db.utils", "alembic.runtime.migration",
                                                     "mlflow.tracking.fluent")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def check_server(uri: str, timeout: float = PROBE_SECONDS) -> None:
    """An http(s) tracking URI must answer a connection now: MLflow's client retries an unreachable server for
    about four minutes before it fails, so a wrong host or a server not started is refused in one line, before
    the run directory is made. Any other URI (a folder, SQLite) is MLflow's to check."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            pass
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error) or "timed out"
        raise GankitError(f"--log mlflow: the tracking server {uri} (MLFLOW_TRACKING_URI) does not answer ({reason}); "
                          "start it, or unset MLFLOW_TRACKING_URI to log to ./mlflow.db") from None


def finite_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    return {key: float(value) for key, value in metrics.items()
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)}


class MlflowTracker(Callback):
    """``--log mlflow``: the config as params, every logged step's metrics, grids and report.html as artifacts."""

    def __init__(self) -> None:
        missing = [name for name in ("mlflow", "sqlalchemy", "alembic") if importlib.util.find_spec(name) is None]
        if missing:
            raise GankitError(f"--log mlflow needs {', '.join(missing)}, not installed: "
                              "pip install mlflow-skinny sqlalchemy alembic (or pip install gankit-mlflow)")
        check_server(os.environ.get("MLFLOW_TRACKING_URI", ""))
        self.client = None
        self.run_id: str | None = None

    def on_run_start(self, run: RunInfo) -> None:
        from mlflow import MlflowClient
        from mlflow.entities import Param

        uri = tracking_uri(run)
        with quiet_store_setup():
            self.client = MlflowClient(uri)
            self.run_id = self._continued(run)
            if self.run_id is not None:
                self.client.update_run(self.run_id, status="RUNNING")
                return
            name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
            experiment = self.client.get_experiment_by_name(name)
            experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        tags = {"gankit.model": run.model, "gankit.run_dir": str(Path(run.run_dir).resolve())}
        self.run_id = self.client.create_run(experiment_id, run_name=Path(run.run_dir).name, tags=tags).info.run_id
        (Path(run.run_dir) / RECORD).write_text(json.dumps({"tracking_uri": uri, "run_id": self.run_id}) + "\n")
        params = [Param(f"{section}.{key}", str(value))
                  for section, table in (("config", run.config), ("train", run.train)) for key, value in table.items()]
        for start in range(0, len(params), PARAMS_PER_CALL):
            self.client.log_batch(self.run_id, params=params[start:start + PARAMS_PER_CALL])
        config = Path(run.run_dir) / "config.toml"
        if config.is_file():
            self.client.log_artifact(self.run_id, str(config))

    def _continued(self, run: RunInfo) -> str | None:
        """The MLflow run a resumed gankit run started, when this store holds it."""
        record = Path(run.run_dir) / RECORD
        if not run.resumed or not record.is_file():
            return None
        run_id = json.loads(record.read_text())["run_id"]
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_run(run_id)
        except MlflowException:  # another store (MLFLOW_TRACKING_URI changed): a new MLflow run there
            return None
        return run_id

    def _log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        rows = [Metric(key, value, now, step) for key, value in finite_metrics(metrics).items()]
        if rows:
            self.client.log_batch(self.run_id, metrics=rows)

    def on_stage_start(self, run: RunInfo, stage: str, step: int) -> None:
        self.client.set_tag(self.run_id, "gankit.stage", stage)

    def on_step_end(self, run: RunInfo, step: int, metrics: Mapping[str, float]) -> None:
        self._log_metrics(metrics, step)

    def on_epoch_end(self, run: RunInfo, epoch: int, step: int, metrics: Mapping[str, float]) -> None:
        self._log_metrics({f"epoch/{key}": value for key, value in metrics.items()}, epoch)

    def on_sample(self, run: RunInfo, step: int, path: Path, grid) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path="samples")

    def on_checkpoint(self, run: RunInfo, step: int, path: Path) -> None:
        # Checkpoints stay in the run directory (they can be large); the run records where the latest is.
        self.client.set_tag(self.run_id, "gankit.checkpoint", str(Path(path).resolve()))

    def on_run_end(self, run: RunInfo, step: int, status: RunStatus) -> None:
        if self.run_id is None:
            return
        report = Path(run.run_dir) / "report.html"
        if report.is_file():
            self.client.log_artifact(self.run_id, str(report))
        self.client.set_terminated(self.run_id, status=STATUS[status])
