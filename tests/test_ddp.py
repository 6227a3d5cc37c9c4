"""Data parallel under torchrun, 2 gloo processes on the CPU: against one process, a NaN on one rank, and every
model: after a few steps the ranks hold identical state, a run stopped and resumed under torchrun continues
exactly, only rank 0 calls callbacks, no gloo thread outlives the engine's shutdown, and every launch exits 0
(no abort at teardown is tolerated)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gankit_core.engine import checkpoint as ckpt

HERE = Path(__file__).parent
MODELS = ("tiny-wgan", "dcgan", "cregan", "ugatit", "cyclegan", "expression")  # tests/ddp_model_worker.py's


def torchrun(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Two processes on this machine; --standalone lets the rendezvous pick a free port itself."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launched = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                               *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert launched.returncode == 0, launched.stderr[-3000:]
    return launched


def test_data_parallel_matches_one_process(tmp_path):
    single, double = tmp_path / "single.safetensors", tmp_path / "double.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(HERE / "ddp_worker.py"), str(single)], check=True, env=env, capture_output=True)
    launched = torchrun(str(HERE / "ddp_worker.py"), str(double))
    assert "world 2 rank 0" in launched.stdout and "world 2 rank 1" in launched.stdout
    a, b = load_file(single), load_file(double)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5, rtol=1e-4), key


def test_a_nan_on_one_rank_is_skipped_by_every_rank(tmp_path):
    # a rank left waiting in an all-reduce would hang: the timeout ends the test then
    launched = torchrun(str(HERE / "ddp_worker.py"), str(tmp_path / "weights.safetensors"), "nan-on-rank-1")
    reports = {line.split()[3]: line.split() for line in launched.stdout.splitlines() if line.startswith("world 2")}
    assert set(reports) == {"0", "1"}, launched.stderr[-3000:]
    assert [reports[rank][7] for rank in "01"] == ["1", "1"]  # both ranks skipped the one step
    assert reports["0"][9] == reports["1"][9]  # and still hold identical weights


def tensors(path: Path) -> dict[str, torch.Tensor]:
    return load_file(ckpt.resolve_latest(path) if path.is_dir() else path)


@pytest.mark.parametrize("model", MODELS)
def test_every_model_trains_and_resumes_exactly_under_two_processes(model, tmp_path):
    launched = torchrun(str(HERE / "ddp_model_worker.py"), model, str(tmp_path))
    assert sorted(line for line in launched.stdout.splitlines() if line.startswith(("world", "rank"))) == [
        "rank 0: 0 gloo threads alive after the shutdown", "rank 1: 0 gloo threads alive after the shutdown",
        "world 2 rank 0 step 4", "world 2 rank 1 step 4"]
    # identical on both ranks: weights, EMA, optimizer moments, batch-norm statistics, image pools, RNG
    rank0, rank1 = tensors(tmp_path / "rank-0.safetensors"), tensors(tmp_path / "rank-1.safetensors")
    assert rank0.keys() == rank1.keys() and any(key.startswith("optim/") for key in rank0)
    assert [key for key in rank0 if not torch.equal(rank0[key], rank1[key])] == []
    # 2 steps, stop, resume to 4 under torchrun == 4 steps in one go, bit for bit
    straight, resumed = tensors(tmp_path / "straight"), tensors(tmp_path / "split")
    assert straight.keys() == resumed.keys()
    assert [key for key in straight if not torch.equal(straight[key], resumed[key])] == []
    assert (tmp_path / "callbacks.txt").read_text().splitlines() == [
        "rank 0: start at 0 of 2 processes", "rank 0: finished at 4",
        "rank 0: start at 0 of 2 processes", "rank 0: finished at 2",
        "rank 0: start at 2 of 2 processes", "rank 0: finished at 4"]
