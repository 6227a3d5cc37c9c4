"""gankit-mlflow: hook implementations only (no mlflow import here)."""

from gankit_core.hookspecs import hookimpl


@hookimpl
def register_callbacks(register):
    register("mlflow", "gankit_mlflow.tracker:MlflowTracker",
             summary="MLflow run: config as params, metrics, sample grids and report.html as artifacts "
                     "(MLFLOW_TRACKING_URI, default ./mlflow.db)")
