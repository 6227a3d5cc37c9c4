"""The run directory: created (or refused when it already holds a run), its config.toml, and metrics trimmed to
the step a run starts from."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from gankit_core.engine import checkpoint as ckpt
from gankit_core.errors import ConfigError


def plugin_versions() -> dict[str, str]:
    from gankit_core.plugins import get_plugins

    return {info.ref.distribution: info.ref.version for info in get_plugins().plugins if info.ok}


# What a run writes into its directory: a fresh run refuses a folder that already holds any of them.
RUN_FILES = ("config.toml", "metrics.jsonl", "report.html")
RUN_FOLDERS = ("checkpoints", "samples", "tensorboard")


def open_run_dir(requested: Path | None, model_name: str, resuming: bool) -> Path:
    """Create the run directory (a fresh run refuses one holding an earlier run's files) and check that it,
    samples/ and checkpoints/ take files, so a run that could not save says so before it trains."""
    run_dir = requested or Path("runs") / f"{model_name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    if not resuming:
        earlier = [name for name in RUN_FILES if (run_dir / name).exists()]
        earlier += [f"{name}/" for name in RUN_FOLDERS if (run_dir / name).is_dir() and any((run_dir / name).iterdir())]
        if earlier:
            raise ConfigError(f"{run_dir} already holds a run ({', '.join(earlier)}); continue it with "
                              f"'gankit resume {run_dir}', or choose another --out")
    for folder in (run_dir, run_dir / "samples", run_dir / "checkpoints"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as error:
            raise ConfigError(f"cannot write to {folder}: {error.strerror}; nothing was trained") from None
    return run_dir


def write_config(run_dir: Path, model: Any, settings: Any, total_steps: int) -> None:
    """The resolved config and settings the run trains with (``gankit resume`` reads them back)."""
    import tomli_w

    from gankit_core.config import to_toml_value

    document = {
        "model": model.name,
        # The preset the config started from: a record, since its values are all in [config] and [train].
        **({"preset": model.preset} if model.preset is not None else {}),
        "config_version": model.config_version,  # resume and --config migrate an older one (Model.migrate_config)
        "config": to_toml_value(dataclasses.asdict(model.config)),
        "train": to_toml_value({**dataclasses.asdict(settings), "steps": total_steps}),
        "versions": plugin_versions(),
    }
    ckpt.write_atomic(run_dir / "config.toml", tomli_w.dumps(document).encode())


def trim_metrics(run_dir: Path, keep_until: int | None) -> float:
    """Keep only the metric rows up to the step training starts from: none for a fresh run (``keep_until``
    None), and none logged after the checkpoint a resumed run continues from (a run killed between
    checkpoints). Returns the training time the kept rows reach (0 for none), for the resumed run's to go on
    from."""
    from gankit_core.engine.report import read_metrics

    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return 0.0
    def before(row: dict) -> bool:  # a stage's opening row at the resume step is written again on resume
        step = row.get("step", 0)
        return step < keep_until or (step == keep_until and row.get("event") != "stage")

    kept = [row for row in read_metrics(path) if keep_until is not None and before(row)]
    ckpt.write_atomic(path, "".join(json.dumps(row) + "\n" for row in kept).encode())
    times = [row["time"] for row in kept if isinstance(row.get("time"), (int, float))]
    return float(times[-1]) if times else 0.0


def remove_unstarted_run(run_dir: Path) -> None:
    """Take back what a fresh run wrote before its first step failed, so the same --out works once it is fixed
    (a fresh run's folder held none of these before: open_run_dir refuses one that does)."""
    import shutil

    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for name in RUN_FOLDERS:
        shutil.rmtree(run_dir / name, ignore_errors=True)
    with contextlib.suppress(OSError):  # kept when it holds the user's own files
        run_dir.rmdir()
