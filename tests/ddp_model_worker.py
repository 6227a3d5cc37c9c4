"""One model under torchrun: a straight run, and the same run stopped early then resumed, all in one launch.

    torchrun --nproc_per_node=2 tests/ddp_model_worker.py MODEL OUT

Writes OUT/straight and OUT/split (rank 0's run directories, the second stopped at SPLIT steps and resumed
to STEPS), OUT/rank-R.safetensors: every rank's whole training state after the straight run (what a
checkpoint holds), so the test can check the ranks hold identical weights, and OUT/callbacks.txt: a line
per start and end of a run from a callback, naming the process it ran in. At exit, after the engine left
the process group, each rank prints how many gloo threads are still alive: any is a group that was not
freed, whose threads would meet the interpreter's teardown (the cause of an abort about one exit in 20). The models are tiny (seconds a
run on a CPU); the tiny-wgan used by the engine tests comes from tests/tiny_models.py."""

import atexit
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from tiny_models import TinyModels  # noqa: E402

from gankit_core import api  # noqa: E402
from gankit_core.callbacks import Callback  # noqa: E402
from gankit_core.engine import Trainer  # noqa: E402
from gankit_core.engine import checkpoint as ckpt  # noqa: E402
from gankit_core.hookspecs import hookimpl  # noqa: E402
from gankit_core.testing import registered_plugin  # noqa: E402

STEPS, SPLIT = 4, 2


def say(line: str) -> None:
    """One line on stdout in one write: the two ranks share the pipe (and run unbuffered), so print's separate
    write of the newline could land after the other rank's line."""
    os.write(sys.stdout.fileno(), (line + "\n").encode())


TINY = {
    "tiny-wgan": {"n_critic": 2},
    "dcgan": {"image_size": 32, "batch_size": 8, "g_features": 8, "d_features": 8, "latent_dim": 16,
              "ema_decay": 0.9, "data": "synthetic-faces:n=32,identities=8"},
    "cregan": {"image_size": 64, "g_width": 4, "d_width": 4, "batch_size": 4, "n_critic": 2,
               "data": "synthetic-faces:n=16,identities=8"},
    "ugatit": {"image_size": 32, "g_width": 8, "d_width": 8, "n_blocks": 2, "global_layers": 5, "local_layers": 4,
               "batch_size": 4, "data": "synthetic-unpaired:n=16,identities=8"},
    "cyclegan": {"image_size": 32, "g_width": 8, "d_width": 8, "n_blocks": 2, "batch_size": 4, "pool_size": 6,
                 "data": "synthetic-unpaired:n=16,identities=8"},
    # Two stages of two steps each: the split falls on the boundary, the resume starts the transfer stage.
    "expression": {"image_size": 64, "batch_size": 4, "g_width": 8, "d_width": 8, "fusion_width": 8,
                   "fusion_d_width": 8, "fusion_steps": 2, "transfer_steps": 2,
                   "data": "synthetic-expression:n=16,identities=8"},
}


class Witness(Callback):
    """Says in which process (torchrun's RANK) each run started and ended."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def write(self, line: str) -> None:
        with (self.out / "callbacks.txt").open("a") as handle:
            handle.write(f"rank {os.environ['RANK']}: {line}\n")

    def on_run_start(self, run):
        self.write(f"start at {run.start_step} of {run.world_size} processes")

    def on_run_end(self, run, step, status):
        self.write(f"{status} at {step}")


class Plugin(TinyModels):
    def __init__(self, out: Path) -> None:
        self.out = out

    @hookimpl
    def register_callbacks(self, register):
        register("witness", lambda: Witness(self.out), summary="where each run starts and ends (tests)")


def settings(steps: int):
    return api.train_settings({"steps": steps, "device": "cpu", "precision": "fp32", "progress": False,
                               "log_every": 1, "sample_every": 100, "checkpoint_every": 100, "log": ["witness"]})


def count_gloo_threads() -> None:
    names = []
    for task in Path("/proc/self/task").iterdir():
        try:
            names.append((task / "comm").read_text().strip())
        except OSError:  # a thread that ended meanwhile
            continue
    alive = sum("gloo" in name for name in names)
    say(f"rank {os.environ['RANK']}: {alive} gloo threads alive after the shutdown")


def main(name: str, out: Path) -> None:
    with registered_plugin(Plugin(out)):
        def model():
            return api.create_model(name, **TINY[name])

        straight = Trainer(model(), settings(STEPS), run_dir=out / "straight")
        straight.fit()
        rank = straight.placement.dist.rank
        ckpt.write_atomic(out / f"rank-{rank}.safetensors", straight.checkpoint_bytes())
        Trainer(model(), settings(SPLIT), run_dir=out / "split").fit()
        resumed = Trainer(model(), settings(STEPS), run_dir=out / "split", resume_from=out / "split")
        resumed.fit()
        say(f"world {straight.placement.dist.world_size} rank {rank} step {resumed.step}")


if __name__ == "__main__":
    atexit.register(count_gloo_threads)  # registered before the engine's shutdown, so it runs after it
    main(sys.argv[1], Path(sys.argv[2]))
