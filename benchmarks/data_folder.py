"""Folder datasets at scale: build a folder of N synthetic 178x218 JPEGs (CelebA's size), then measure
the one-time preparation, the restart, the peak memory and the loading speed.

Usage:
    python benchmarks/data_folder.py [--n 2000] [--size 128] [--folder DIR] [--keep] [--run dcgan]
    python benchmarks/data_folder.py --n 200000 --folder /big/disk/faces --run dcgan   # CelebA-sized

Each measured phase runs in a fresh child process, so its peak RSS (``ru_maxrss``) is its own: the
preparation (first open: list, decode, write the cache), the restart (second open: list, check,
read the index) and batches of 64 through the BatchLoader (images/s, peak RSS after reading).
With ``--run MODEL`` the preparation is done by a real first ``gankit run MODEL --data folder:DIR
--image-size SIZE --batch-size 64 --steps 3``, and a second one measures the restart to the first
training step. The machine may be shared: wall-clock figures are printed beside CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from gankit_core.progress import Steps

WIDTH, HEIGHT = 178, 218  # CelebA's aligned images
BASE_FACES = 256  # distinct rendered faces; every file is one of them shifted, tinted and with its own noise
CHUNK = 500


def _base_faces() -> np.ndarray:
    from gankit_core.data.synthetic import face_params, render

    count = BASE_FACES
    params = face_params(11, np.arange(count), np.arange(count) % 7, np.full(count, 0.9))
    faces = render(params, HEIGHT, "photo", noise_seed=11)
    left = (HEIGHT - WIDTH) // 2
    return faces[:, :, left : left + WIDTH]


def _write_chunk(job: tuple[str, int, int]) -> int:
    folder, start, stop = job
    from PIL import Image

    faces = _base_faces.cache  # type: ignore[attr-defined]
    for index in range(start, stop):
        rng = np.random.default_rng(index)
        face = faces[index % len(faces)].astype(np.int16)
        shift = rng.integers(-6, 7, 2)
        face = np.roll(face, tuple(shift), axis=(0, 1))
        face = face + rng.integers(-20, 21, 3) + rng.normal(0, 4, face.shape)
        image = Image.fromarray(np.clip(face, 0, 255).astype(np.uint8))
        image.save(Path(folder) / f"{index + 1:06d}.jpg", quality=90)
    return stop - start


def _init_worker(faces: np.ndarray) -> None:
    _base_faces.cache = faces  # type: ignore[attr-defined]


def build_folder(folder: Path, count: int, workers: int) -> float:
    """Write ``count`` JPEGs named like CelebA's (000001.jpg, ...) into ``folder``; seconds taken.
    Files already there are kept, so an interrupted build resumes."""
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    todo = [(str(folder), s, min(s + CHUNK, count)) for s in range(0, count, CHUNK)
            if not (folder / f"{min(s + CHUNK, count):06d}.jpg").exists()]
    if not todo:
        return 0.0
    faces = _base_faces()
    done = count - sum(stop - s for _, s, stop in todo)
    with Steps(f"building {folder}", count) as progress, get_context("spawn").Pool(workers, _init_worker,
                                                                                  (faces,)) as pool:
        progress.update(done)
        for written in pool.imap_unordered(_write_chunk, todo):
            done += written
            progress.update(done)
    return time.perf_counter() - start


# ------------------------------------------------------------------------------------------ phases
PHASE = r"""
import json, os, resource, sys, time
start = time.perf_counter()
import torch
from gankit_core.data import open_dataset
from gankit_core.data.loader import BatchLoader
spec, size, batches, reader = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
imported = time.perf_counter()
dataset = open_dataset(spec, size)
opened = time.perf_counter()
if reader == "mmap":  # the alternative measured: the prepared file as a memory map, indexed by numpy
    import numpy as np

    class MappedRows:
        def __init__(self, cached):
            self.array, self.rows = np.load(cached.path, mmap_mode="r"), cached.rows
            self.shape = (len(self.rows), *self.array.shape[1:])

        def __getitem__(self, index):
            return torch.from_numpy(self.array[np.sort(self.rows[index.numpy()])])

    dataset.fields["image"] = MappedRows(dataset.fields["image"])
result = {"images": len(dataset), "import_s": imported - start, "open_s": opened - imported}
if batches:
    loader = BatchLoader(dataset, 64, seed=0)
    loader.next()
    begin = time.perf_counter()
    for _ in range(batches):
        batch = loader.next()
    elapsed = time.perf_counter() - begin
    loader.close()
    result.update(images_per_s=batches * 64 / elapsed, batch_ms=1000 * elapsed / batches)
usage = resource.getrusage(resource.RUSAGE_SELF)
# VmHWM: this process's own peak (ru_maxrss would include the parent's RSS at the fork)
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
result.update(peak_rss_mb=peak_kb / 1024, cpu_s=usage.ru_utime + usage.ru_stime)
print(json.dumps(result))
"""


STARTUP = r"""
import json, resource, sys, time
start = time.perf_counter()
marks = {}
def mark(what):
    usage = resource.getrusage(resource.RUSAGE_SELF)
    marks[what] = {"s": round(time.perf_counter() - start, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2)}
import torch
from gankit_core import api
from gankit_core.engine.trainer import Trainer
mark("imports")
model = api.create_model(sys.argv[1], image_size=int(sys.argv[3]), batch_size=64, data=sys.argv[2])
trainer = Trainer(model, api.train_settings({"steps": 3, "progress": False}), write=False)
mark("setup (networks, dataset, loader)")
batch = trainer.prepare_batch(trainer.loader.next())
mark("first batch in hand")
print(json.dumps(marks))
"""


def run_startup(model: str, spec: str, size: int) -> dict:
    """Wall and CPU seconds from a fresh process to a run's first batch, stage by stage (in-process marks)."""
    out = subprocess.run([sys.executable, "-c", STARTUP, model, spec, str(size)], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"error: startup failed: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_phase(spec: str, size: int, batches: int, reader: str = "pread") -> dict:
    out = subprocess.run([sys.executable, "-c", PHASE, spec, str(size), str(batches), reader],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"error: phase failed: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_gankit(model: str, folder: Path, size: int, out: Path) -> dict:
    """A real ``gankit run`` on the folder: seconds (wall and CPU) to its first step, peak RSS, total."""
    metrics = out / "metrics.jsonl"
    command = [sys.executable, "-m", "gankit_core", "run", model, "--data", f"folder:{folder}", "--image-size",
               str(size), "--batch-size", "64", "--steps", "3", "--log-every", "1", "--no-progress", "--out", str(out)]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first_step = first_step_cpu = None
    while True:  # wait4, not Popen.wait: it also gives the child's own peak RSS
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if first_step is None and metrics.is_file() and metrics.stat().st_size:
            first_step, first_step_cpu = time.perf_counter() - start, _cpu_seconds(child.pid)
        time.sleep(0.02)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"error: gankit run failed: {child.stderr.read().decode().strip().splitlines()[-1]}")
    step_s = json.loads(metrics.read_text().splitlines()[0])["time"]  # the first step itself
    return {"first_step_s": first_step, "first_step_cpu_s": first_step_cpu, "loop_start_s": first_step - step_s,
            "total_s": time.perf_counter() - start, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="images in the folder (200000: CelebA-sized)")
    parser.add_argument("--size", type=int, default=128, help="the model's image size")
    parser.add_argument("--folder", type=Path, help="where to build the folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the folder and its cache afterwards")
    parser.add_argument("--batches", type=int, default=1000, help="batches of 64 read to time loading")
    parser.add_argument("--read-only", action="store_true", help="only time reading a kept cache (GANKIT_CACHE)")
    parser.add_argument("--build-only", action="store_true", help="only build the folder")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--run", metavar="MODEL", help="prepare by a real `gankit run MODEL`, then time a second one")
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="gankit-data-bench-")) / "images"
    if args.build_only:
        build_s = build_folder(folder, args.n, args.workers)
    else:
        # Built by a child: a process's peak RSS includes its parent's at the fork, so the parent stays small.
        start = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--build-only", "--n", str(args.n), "--folder", str(folder),
                        "--workers", str(args.workers)], check=True, stdout=subprocess.DEVNULL)
        build_s = time.perf_counter() - start
    print(f"folder {folder}: {args.n:,} JPEGs of {WIDTH}x{HEIGHT} "
          f"({sum(f.stat().st_size for f in folder.iterdir()) / 1e6:,.0f} MB), built in {build_s:.0f} s")
    if args.build_only:
        return
    if args.read_only and args.run:  # a restart of a real run on a kept cache (GANKIT_CACHE)
        runs = Path(tempfile.mkdtemp(prefix="gankit-data-bench-runs-"))
        print(json.dumps(run_gankit(args.run, folder, args.size, runs / "again")))
        print(json.dumps(run_startup(args.run, f"folder:{folder}", args.size)))
        shutil.rmtree(runs, ignore_errors=True)
        return
    if args.read_only:
        for reader in ("pread", "mmap"):
            read = run_phase(f"folder:{folder}", args.size, args.batches, reader)
            print(f"{reader}: opened in {read['open_s']:.2f} s; {read['images_per_s']:,.0f} images/s "
                  f"({read['batch_ms']:.1f} ms a batch of 64, {args.batches} batches, shuffled); "
                  f"peak RSS {read['peak_rss_mb']:,.0f} MB")
        return
    cache = Path(tempfile.mkdtemp(prefix="gankit-data-bench-cache-"))
    os.environ["GANKIT_CACHE"] = str(cache)
    spec = f"folder:{folder}"
    runs = Path(tempfile.mkdtemp(prefix="gankit-data-bench-runs-"))
    try:
        if args.run:
            first_run = run_gankit(args.run, folder, args.size, runs / "first")
            meta = json.loads(next((cache / "folders").glob("*/meta.json")).read_text())
            prepare = {"open_s": meta["prepare_s"], **first_run}
        else:
            prepare = run_phase(spec, args.size, 0)
        restart = run_phase(spec, args.size, 0)
        read = run_phase(spec, args.size, args.batches)
        mapped = run_phase(spec, args.size, args.batches, "mmap")
        second_run = run_gankit(args.run, folder, args.size, runs / "second") if args.run else None
        startup = run_startup(args.run, spec, args.size) if args.run else None
        cache_mb = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) / 1e6
    finally:
        shutil.rmtree(runs, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(cache, ignore_errors=True)
            if args.folder is None:
                shutil.rmtree(folder.parent, ignore_errors=True)
    print(f"machine: {os.cpu_count()} cores, possibly shared with other work: wall-clock seconds, CPU seconds beside")
    print(f"preparation (first open, {args.size}px): {prepare['open_s']:.1f} s, {args.n / prepare['open_s']:,.0f} "
          f"images/s; peak RSS {prepare['peak_rss_mb']:,.0f} MB; cache {cache_mb:,.0f} MB")
    if args.run:
        print(f"first `gankit run {args.run}` (preparing): training loop reached after {prepare['loop_start_s']:.1f} s, "
              f"first step done after {prepare['first_step_s']:.1f} s ({prepare['first_step_cpu_s']:.1f} CPU s), "
              f"peak RSS {prepare['peak_rss_mb']:,.0f} MB")
    print(f"restart (second open): {restart['open_s']:.2f} s ({restart['cpu_s']:.1f} CPU s with imports) "
          f"after {restart['import_s']:.1f} s of imports; peak RSS {restart['peak_rss_mb']:,.0f} MB")
    print(f"loading: {read['images_per_s']:,.0f} images/s ({read['batch_ms']:.1f} ms a batch of 64, "
          f"{args.batches} batches, shuffled); peak RSS {read['peak_rss_mb']:,.0f} MB")
    print(f"  (the same through a memory map: {mapped['images_per_s']:,.0f} images/s, peak RSS "
          f"{mapped['peak_rss_mb']:,.0f} MB: every page read stays in the process's RSS)")
    if second_run:
        print(f"second `gankit run {args.run}`: training loop reached after {second_run['loop_start_s']:.1f} s, "
              f"first step done after {second_run['first_step_s']:.1f} s ({second_run['first_step_cpu_s']:.1f} CPU s), "
              f"peak RSS {second_run['peak_rss_mb']:,.0f} MB")
        print("restart to the first batch, stage by stage (s, CPU s): "
              + "; ".join(f"{what} {at['s']:.1f}, {at['cpu_s']:.1f}" for what, at in startup.items()))
    if args.keep:
        print(f"kept: the folder {folder} and its cache {cache} (GANKIT_CACHE={cache} reuses it)")
    print(json.dumps({"n": args.n, "size": args.size, "prepare": prepare, "restart": restart, "read": read, "mmap": mapped,
                      "second_run": second_run, "startup": startup, "cache_mb": cache_mb}))


if __name__ == "__main__":
    main()
