"""Engine callbacks: every moment in order with its arguments, a raising callback isolated, the statuses of an
interrupted and a failed run, and selection with --log and with [train] log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib
from PIL import Image

from gankit_core import api
from gankit_core.callbacks import Callback
from gankit_core.engine import Trainer, TrainingDiverged, TrainingInterrupted
from gankit_core.engine.guards import FirstStepFailed
from gankit_core.errors import ConfigError, GankitError
from gankit_core.hookspecs import hookimpl
from gankit_core.testing import registered_plugin

sys.path.insert(0, str(Path(__file__).parent))
from tiny_models import TinyModels  # noqa: E402


class Recorder(Callback):
    """Writes down every moment with what it was given (paths checked when they are announced: a checkpoint
    may be rotated away later)."""

    def __init__(self, events: list) -> None:
        self.events = events

    def on_run_start(self, run):
        self.events.append(("run_start", run))

    def on_stage_start(self, run, stage, step):
        self.events.append(("stage_start", stage, step))

    def on_step_end(self, run, step, metrics):
        self.events.append(("step_end", step, dict(metrics)))

    def on_epoch_end(self, run, epoch, step, metrics):
        self.events.append(("epoch_end", epoch, step, dict(metrics)))

    def on_sample(self, run, step, path, grid):
        self.events.append(("sample", step, path.name, np.array_equal(np.asarray(Image.open(path)), grid)))

    def on_checkpoint(self, run, step, path):
        self.events.append(("checkpoint", step, path.name, path.is_file()))

    def on_stage_end(self, run, stage, step):
        self.events.append(("stage_end", stage, step))

    def on_run_end(self, run, step, status):
        self.events.append(("run_end", step, status, (run.run_dir / "report.html").is_file()))


class Raising(Callback):
    """Raises at its first logged step, counting every call it gets."""

    def __init__(self, calls: list) -> None:
        self.calls = calls

    def on_run_start(self, run):
        self.calls.append("run_start")

    def on_step_end(self, run, step, metrics):
        self.calls.append("step_end")
        raise RuntimeError("the tracker's server went away")

    def on_run_end(self, run, step, status):
        self.calls.append("run_end")


class Interrupter(Callback):
    """Ctrl-C at step 2, as a user would press it."""

    def on_step_end(self, run, step, metrics):
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)


class Plugin(TinyModels):
    def __init__(self) -> None:
        self.events: list = []
        self.raising_calls: list = []

    @hookimpl
    def register_callbacks(self, register):
        register("recorder", lambda: Recorder(self.events), summary="records every moment (tests)")
        register("raising", lambda: Raising(self.raising_calls), summary="raises at its first step (tests)")
        register("interrupter", Interrupter, summary="presses Ctrl-C at step 2 (tests)")
        register("unbuildable", lambda: 1 / 0, summary="its factory fails (tests)")

        def missing_package():
            raise GankitError("the 'nowhere' tracker needs its package: pip install nowhere")

        register("needs-package", missing_package, summary="a tracker whose package is missing (tests)")


@pytest.fixture
def plugin():
    instance = Plugin()
    with registered_plugin(instance):
        yield instance


def settings(**values):
    return api.train_settings({"device": "cpu", "precision": "fp32", "progress": False, **values})


def metric_rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_every_moment_in_order_with_its_arguments(plugin, tmp_path):
    model = api.create_model("two-stage")  # pretrain (steps 0-3), adversarial (steps 3-6); 4 batches an epoch
    model.log_epochs = True
    out = tmp_path / "run"
    Trainer(model, settings(log=["recorder"], log_every=2, sample_every=2, checkpoint_every=4), run_dir=out).fit()
    events = plugin.events
    rows = [row for row in metric_rows(out) if "event" not in row]
    epochs = [row for row in metric_rows(out) if row.get("event") == "epoch"]
    shape = [event[:2] if event[0] != "run_end" else event for event in events]
    assert shape == [
        ("run_start", events[0][1]),
        ("stage_start", "pretrain"),
        ("step_end", 2), ("sample", 2),
        ("stage_end", "pretrain"),
        ("stage_start", "adversarial"),
        ("step_end", 4), ("epoch_end", 1), ("sample", 4), ("sample", 4), ("checkpoint", 4),
        ("step_end", 6), ("sample", 6), ("stage_end", "adversarial"),
        ("checkpoint", 6),
        ("run_end", 6, "finished", True),  # report.html is written before selected callbacks hear of the end
    ]
    run = events[0][1]
    document = tomllib.loads((out / "config.toml").read_text())
    assert (run.run_dir, run.model, run.total_steps, run.start_step, run.rank, run.world_size) == (out, "two-stage",
                                                                                                   6, 0, 0, 1)
    assert run.config == document["config"] and run.train == document["train"] and run.train["log"] == ["recorder"]
    assert run.stages == ("pretrain", "adversarial") and (run.device, run.precision) == ("cpu", "fp32")
    assert [e[2] for e in events if e[0] in ("stage_start", "stage_end")] == [0, 3, 3, 6]
    # a logged step's metrics are its metrics.jsonl row, less the step and the stage's name
    logged = [(e[1], e[2]) for e in events if e[0] == "step_end"]
    assert logged == [(row["step"], {k: v for k, v in row.items() if k not in ("step", "stage")}) for row in rows]
    assert {"time", "images_per_s", "lr", "loss_rec"} <= logged[0][1].keys() and "loss_g" in logged[2][1]
    epoch = next(e for e in events if e[0] == "epoch_end")
    assert epoch[1:] == (epochs[0]["epoch"], epochs[0]["step"], {k: v for k, v in epochs[0].items()
                                                                 if k not in ("event", "epoch", "step")})
    samples = [e for e in events if e[0] == "sample"]
    assert [e[2] for e in samples] == ["step-000002.png", "epoch-001.png", "step-000004.png", "step-000006.png"]
    assert all(e[3] for e in samples)  # each grid is exactly the PNG written
    assert [e[1:] for e in events if e[0] == "checkpoint"] == [(4, "step-000004.safetensors", True),
                                                               (6, "step-000006.safetensors", True)]


def test_a_raising_callback_is_warned_about_once_and_the_run_loses_nothing(plugin, tmp_path, capfd):
    plain = Trainer(api.create_model("tiny-wgan"), settings(steps=4, log_every=1, log=["recorder"]),
                    run_dir=tmp_path / "a").fit()
    plugin.events.clear()
    result = Trainer(api.create_model("tiny-wgan"), settings(steps=4, log_every=1, log=["raising", "recorder"]),
                     run_dir=tmp_path / "b").fit()
    warnings = [line for line in capfd.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: callback 'raising' raised in on_step_end (RuntimeError: the tracker's server went "
                        "away); it is off for the rest of this run, which goes on"]
    assert plugin.raising_calls == ["run_start", "step_end"]  # never called again, not even at the end
    assert plugin.events[-1][:3] == ("run_end", 4, "finished")  # the callback after it heard everything
    assert result.step == 4 and result.checkpoint.is_file() and (result.run_dir / "report.html").is_file()
    assert len(metric_rows(result.run_dir)) == len(metric_rows(plain.run_dir)) == 4
    assert sorted(p.name for p in (result.run_dir / "samples").iterdir()) == ["step-000004.png"]


def test_a_callback_that_cannot_be_built(plugin, tmp_path, capfd):
    result = Trainer(api.create_model("tiny-wgan"), settings(steps=1, log=["unbuildable"]), run_dir=tmp_path / "a").fit()
    assert result.step == 1
    assert "warning: callback 'unbuildable' (throwaway 0.0.0) could not be created (ZeroDivisionError: division by " \
           "zero); the run goes on without it" in capfd.readouterr().err
    # a tracker that says what to install stops the run before it makes anything
    with pytest.raises(GankitError, match="pip install nowhere"):
        Trainer(api.create_model("tiny-wgan"), settings(steps=1, log=["needs-package"]), run_dir=tmp_path / "b").fit()
    assert not (tmp_path / "b").exists()


def test_an_unknown_name_is_refused_naming_the_registered_ones(plugin, tmp_path):
    with pytest.raises(ConfigError) as refused:
        Trainer(api.create_model("tiny-wgan"), settings(steps=1, log=["recorder", "tensorbord"]), run_dir=tmp_path)
    message = str(refused.value)
    assert message.startswith("unknown callback 'tensorbord' for --log; registered callbacks: console, ")
    listed = message.split("registered callbacks: ")[1].split(", ")
    assert listed == sorted(listed)  # every registered one, this test's and any installed tracker's, in order
    assert {"console", "interrupter", "needs-package", "raising", "recorder", "unbuildable"} <= set(listed)
    assert not tmp_path.joinpath("config.toml").exists()


def test_an_interrupted_run_ends_interrupted_with_its_last_checkpoint(plugin, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(TrainingInterrupted, match="stopped by Ctrl-C at step 2"):
        Trainer(api.create_model("tiny-wgan"), settings(steps=50, log_every=1, log=["interrupter", "recorder"]), run_dir=out).fit()
    tail = [event[:3] if event[0] != "run_end" else event for event in plugin.events[-3:]]
    assert tail == [("checkpoint", 2, "step-000002.safetensors"), ("sample", 2, "step-000002.png"),
                    ("run_end", 2, "interrupted", True)]
    assert not [event for event in plugin.events if event[0] == "stage_end"]  # the stage did not end


def test_a_failed_run_ends_failed(plugin, tmp_path):
    with pytest.raises(TrainingDiverged):
        Trainer(api.create_model("diverging"), settings(steps=50, nan_patience=2, checkpoint_every=2, log=["recorder"]),
                run_dir=tmp_path / "diverged").fit()
    assert plugin.events[-1] == ("run_end", 4, "failed", True)  # the report shows the curves up to the failure
    assert [event[1] for event in plugin.events if event[0] == "checkpoint"] == [2]
    plugin.events.clear()
    model = api.create_model("tiny-wgan")
    model.train_step = lambda nets, batch, step: nets.discriminator(batch["image"][:, :1])  # 1 channel, not 3
    with pytest.raises(FirstStepFailed):
        Trainer(model, settings(steps=3, log=["recorder"]), run_dir=tmp_path / "unstarted").fit()
    assert [event[0] for event in plugin.events] == ["run_start", "stage_start", "run_end"]
    assert plugin.events[-1][1:3] == (0, "failed")
    assert not (tmp_path / "unstarted").exists()  # a fresh run whose first step failed is taken back


def test_a_resumed_run_tells_its_start_step(plugin, tmp_path):
    out = tmp_path / "run"
    Trainer(api.create_model("tiny-wgan"), settings(steps=2, log=["recorder"]), run_dir=out).fit()
    plugin.events.clear()
    Trainer(api.create_model("tiny-wgan"), settings(steps=3, log=["recorder"]), run_dir=out, resume_from=out).fit()
    run = plugin.events[0][1]
    assert (run.start_step, run.total_steps, run.resumed) == (2, 3, True)
    assert [e[1] for e in plugin.events if e[0] == "step_end"] == [3]
    assert not [e for e in plugin.events if e[0] == "stage_start"]  # resumed inside its one stage


# ------------------------------------------------------------------------------- selection, end to end
TRACKER = """
    from gankit_core.callbacks import Callback
    from gankit_core.hookspecs import hookimpl


    class Seen(Callback):
        def on_run_start(self, run):
            self.write(run, f"start {run.start_step} {run.total_steps}")

        def on_step_end(self, run, step, metrics):
            self.write(run, f"step {step} {sorted(metrics)}")

        def on_run_end(self, run, step, status):
            self.write(run, f"end {step} {status}")

        def write(self, run, line):
            with (run.run_dir / "seen.txt").open("a") as handle:
                handle.write(line + "\\n")


    @hookimpl
    def register_callbacks(register):
        register("seen", Seen, summary="writes what it saw to seen.txt")
"""
TINY_DCGAN = ["--set=image_size=32", "--set=batch_size=8", "--set=g_features=8", "--set=d_features=8",
              "--set=latent_dim=16", "--set=data=synthetic-faces:n=16,identities=8", "--precision", "fp32",
              "--device", "cpu", "--no-progress"]


def gankit(*args):
    return subprocess.run([sys.executable, "-m", "gankit_core", *args], capture_output=True, text=True)


def test_selected_by_flag_by_config_and_kept_on_resume(fake_plugins, tmp_path):
    fake_plugins("gankit-seen", TRACKER)
    listed = gankit("list", "--kind", "callback")
    assert listed.returncode == 0 and "seen" in listed.stdout and "console" in listed.stdout
    by_flag = gankit("run", "dcgan", "--steps", "2", "--log", "seen", "--log", "console", "--out",
                     str(tmp_path / "flag"), *TINY_DCGAN)
    assert by_flag.returncode == 0, by_flag.stderr
    (row,) = [row for row in metric_rows(tmp_path / "flag") if "event" not in row]  # the step row, not the epoch's
    assert (tmp_path / "flag" / "seen.txt").read_text().splitlines() == [
        "start 0 2", f"step 2 {sorted(row.keys() - {'step'})}", "end 2 finished"]
    assert "dcgan: finished at step 2" in by_flag.stdout  # the console callback's last line
    config = tmp_path / "run.toml"
    config.write_text('[train]\nlog = ["seen"]\nlog_every = 2\n')
    by_config = gankit("run", "dcgan", "--steps", "2", "--config", str(config), "--out", str(tmp_path / "config"),
                       *TINY_DCGAN)
    assert by_config.returncode == 0, by_config.stderr
    assert (tmp_path / "config" / "seen.txt").read_text().splitlines()[0] == "start 0 2"
    resumed = gankit("resume", str(tmp_path / "config"), "--steps", "4", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    lines = (tmp_path / "config" / "seen.txt").read_text().splitlines()
    assert [lines[0], lines[2], lines[3], lines[-1]] == ["start 0 2", "end 2 finished", "start 2 4", "end 4 finished"]
    unknown = gankit("run", "dcgan", "--steps", "1", "--log", "sen", "--out", str(tmp_path / "typo"), *TINY_DCGAN)
    assert unknown.returncode == 1
    (line,) = unknown.stderr.strip().splitlines()
    assert line.startswith("error: unknown callback 'sen' for --log; registered callbacks: console, ")
    assert "seen" in line.split("registered callbacks: ")[1].split(", ")  # beside any installed tracker
    assert not (tmp_path / "typo").exists()
