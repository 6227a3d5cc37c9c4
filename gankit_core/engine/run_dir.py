"""The run directory: created (or refused when it already holds a run), its config.toml, and metrics trimmed to
the step a run starts from."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from gankit_core.engine import checkpoint as ckpt
from gankit_core.errors import ConfigError


def plugin_versions() -> dict[str, str]:
    from gankit_core.plugins import get_plugins

    return {info.ref.distribution: info.ref.version for info in get_plugins().plugins if info.ok}


def open_run_dir(requested: Path | None, model_name: str, resuming: bool) -> Path:
    run_dir = requested or Path("runs") / f"{model_name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    try:
        (run_dir / "samples").mkdir(parents=True, exist_ok=True)
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create run directory {run_dir}: {error.strerror}") from None
    if not resuming and any((run_dir / "checkpoints").glob("*.safetensors")):
        raise ConfigError(f"{run_dir} already holds a run; continue it with 'gankit resume {run_dir}' "
                          "or choose another --out")
    return run_dir


def write_config(run_dir: Path, model: Any, settings: Any, total_steps: int) -> None:
    """The resolved config and settings the run trains with (``gankit resume`` reads them back)."""
    import tomli_w

    from gankit_core.config import to_toml_value

    document = {
        "model": model.name,
        "config": to_toml_value(dataclasses.asdict(model.config)),
        "train": to_toml_value({**dataclasses.asdict(settings), "steps": total_steps}),
        "versions": plugin_versions(),
    }
    ckpt.write_atomic(run_dir / "config.toml", tomli_w.dumps(document).encode())


def trim_metrics(run_dir: Path, keep_until: int | None) -> None:
    """Keep only the metric rows up to the step training starts from: none for a fresh run (``keep_until``
    None), and none logged after the checkpoint a resumed run continues from (a run killed between
    checkpoints)."""
    from gankit_core.engine.report import read_metrics

    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return
    def before(row: dict) -> bool:  # a stage's opening row at the resume step is written again on resume
        step = row.get("step", 0)
        return step < keep_until or (step == keep_until and row.get("event") != "stage")

    kept = [row for row in read_metrics(path) if keep_until is not None and before(row)]
    ckpt.write_atomic(path, "".join(json.dumps(row) + "\n" for row in kept).encode())
