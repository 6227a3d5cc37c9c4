"""Folder datasets at scale: prepared once into the cache, memory that does not grow with the folder,
prefetched batches that keep the exact data order, and ``gankit cache``."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from gankit_core.data import open_dataset
from gankit_core.data.loader import BatchLoader


def gankit(*args, cache):
    env = {**os.environ, "GANKIT_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "gankit_core", *args], capture_output=True, text=True, env=env)


def fill_folder(folder, count, side=24, kinds=64):
    """``count`` small JPEGs (``kinds`` distinct pictures, written as bytes: fast for thousands)."""
    folder.mkdir(parents=True, exist_ok=True)
    pictures = []
    for kind in range(kinds):
        buffer = io.BytesIO()
        colour = (kind * 4 % 256, 255 - kind * 4 % 256, kind * 37 % 256)
        Image.new("RGB", (side + kind % 5, side), colour).save(buffer, "JPEG", quality=90)
        pictures.append(buffer.getvalue())
    for index in range(count):
        (folder / f"{index:06d}.jpg").write_bytes(pictures[index % kinds])
    return folder


PEAK_RSS = r"""
import sys
from gankit_core.data import open_dataset
from gankit_core.data.loader import BatchLoader
open_dataset(sys.argv[1], 48)            # the first open prepares the folder
dataset = open_dataset(sys.argv[1], 48)  # a restart reads the prepared entry
loader = BatchLoader(dataset, 64, seed=0)
for _ in range(loader.batches_per_epoch):  # one whole epoch, every image read once
    batch = loader.next()
assert batch["image"].shape == (64, 3, 48, 48)
# VmHWM, this process's own peak: ru_maxrss would include pytest's RSS at the fork
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) // 1024)
"""


def peak_rss_mb(folder, cache) -> int:
    result = subprocess.run([sys.executable, "-c", PEAK_RSS, f"folder:{folder}"], capture_output=True, text=True,
                            env={**os.environ, "GANKIT_CACHE": str(cache)})
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1])


def test_peak_memory_does_not_grow_with_the_folder(tmp_path):
    small = peak_rss_mb(fill_folder(tmp_path / "small", 2_000), tmp_path / "cache")
    large = peak_rss_mb(fill_folder(tmp_path / "large", 20_000), tmp_path / "cache")
    images_mb = 18_000 * 3 * 48 * 48 / 2**20  # what 18,000 more decoded images would hold: 119 MB
    assert large - small < 24, f"peak RSS {small} MB for 2,000 images, {large} MB for 20,000 ({images_mb:.0f} MB of images)"


def test_a_folder_is_prepared_once_and_again_when_its_files_change(tmp_path, monkeypatch):
    from gankit_core.cli_cache import cache_entries
    from gankit_core.data import decode

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "faces"
    folder.mkdir()
    for index in range(4):
        Image.new("RGB", (40, 30), (200, 10, 10)).save(folder / f"{index}.png")
    first = open_dataset(f"folder:{folder}", 16)
    assert len(cache_entries(tmp_path / "cache")) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("a prepared folder was decoded again")

    monkeypatch.setattr(decode, "read_image", no_decoding)
    again = open_dataset(f"folder:{folder}", 16)
    assert torch.equal(again.fields["image"][:], first.fields["image"][:])
    monkeypatch.undo()
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))

    Image.new("RGB", (40, 30), (10, 10, 200)).save(folder / "2.png")  # rewritten: new size or mtime
    os.utime(folder / "2.png", ns=(1, 1))
    changed = open_dataset(f"folder:{folder}", 16)
    assert changed.fields["image"][2, 2].float().mean() > 150 and changed.fields["image"][1, 0].float().mean() > 150
    entries = cache_entries(tmp_path / "cache")
    assert len(entries) == 1 and entries[0].images == 4  # the stale entry was removed


def test_prefetching_keeps_the_order_resume_and_rank_shards(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "faces"
    folder.mkdir()
    for index in range(40):  # each image's red channel is its index
        Image.new("RGB", (16, 16), (index * 6, 0, 0)).save(folder / f"{index:02d}.png")
    dataset = open_dataset(f"folder:{folder}", 16)

    def ids(batch):
        return (batch["image"][:, 0, 8, 8].long() // 6).tolist()

    plain = BatchLoader(dataset, 8, seed=3, prefetch=False)
    prefetched = BatchLoader(dataset, 8, seed=3)
    ranks = [BatchLoader(dataset, 8, seed=3, rank=r, world_size=2) for r in range(2)]
    seen = []
    for _ in range(12):  # across two epoch boundaries
        expected = ids(plain.next())
        assert ids(prefetched.next()) == expected
        assert ids(ranks[0].next()) + ids(ranks[1].next()) == expected
        seen.append(expected)
    assert sorted(sum(seen[:5], [])) == list(range(40))  # an epoch holds every image once
    state = prefetched.state()
    following = [ids(prefetched.next()) for _ in range(3)]
    resumed = BatchLoader(dataset, 8, seed=3)
    resumed.next()  # its prefetch is for a position the checkpoint replaces
    resumed.load_state(state)
    assert [ids(resumed.next()) for _ in range(3)] == following
    for loader in (prefetched, resumed, *ranks):
        loader.close()


def test_unreadable_files_are_remembered_by_the_prepared_entry(tmp_path):
    folder = fill_folder(tmp_path / "faces", 3)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    for _ in range(2):  # the restart reads the index, and says the same
        shown = gankit("data", "show", f"folder:{folder}", "-o", str(tmp_path / "grid.png"), "--force",
                       cache=tmp_path / "cache")
        assert shown.returncode == 0, shown.stderr
        assert "broken.jpg" in shown.stderr and "skipped 1 unreadable image(s) of 4" in shown.stderr
    strict = gankit("data", "show", f"folder:{folder}", "-o", str(tmp_path / "grid.png"), "--strict", "--force",
                    cache=tmp_path / "cache")
    assert strict.returncode == 1 and strict.stderr.startswith("error: cannot read image") and "broken.jpg" in strict.stderr


def test_cache_command_shows_and_clears(tmp_path):
    cache = tmp_path / "cache"
    folder = fill_folder(tmp_path / ("a-long-folder-name-" * 4) / "faces", 5)  # a path longer than 80 columns
    assert gankit("data", "show", f"folder:{folder}", "-o", str(tmp_path / "g.png"), "--size", "32",
                  cache=cache).returncode == 0
    shown = gankit("cache", cache=cache)
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if line.split()[0] == "folder")
    assert row.split()[1] == str(folder)  # piped: the whole folder path on its row, never wrapped at 80 columns
    assert "32px" in row and row.split()[-3:] == ["5", row.split()[-2], "KB"]  # 5 images, their size in KB
    cleared = gankit("cache", "clear", cache=cache)
    assert cleared.returncode == 0 and "removed 1 entry" in cleared.stdout
    assert not any((cache / "folders").iterdir())
    assert "the cache is empty" in gankit("cache", cache=cache).stdout


@pytest.mark.parametrize("spec", ["folder", "unpaired"])
def test_cached_images_index_like_tensors(tmp_path, monkeypatch, spec):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    fill_folder(tmp_path / "faces" / "trainA", 6)
    fill_folder(tmp_path / "faces" / "trainB", 3, kinds=1)
    root = tmp_path / "faces" / ("trainA" if spec == "folder" else "")
    dataset = open_dataset(f"{spec}:{root}", 16)
    images = dataset.fields["image"]
    whole = images[:]
    assert whole.shape == (6, 3, 16, 16) and whole.dtype == torch.uint8 and len(dataset) == 6
    assert torch.equal(images[torch.tensor([4, 1, 4])], whole[[4, 1, 4]])
    assert torch.equal(images[np.array([5])], whole[5:6]) and torch.equal(images[2], whole[2])
    assert torch.equal(images[:, 1], whole[:, 1]) and torch.equal(images[3, 0], whole[3, 0])
    assert torch.equal(dataset.take(torch.tensor([0, 2]))["image"], whole[[0, 2]])


def test_landmark_detections_are_kept_with_the_prepared_folder(tmp_path, monkeypatch):
    from gankit_core import landmarking

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    calls = []

    class RedFaces:  # a face at fixed points in every red image, none elsewhere
        def detect(self, image):
            calls.append(image.shape)
            if image[..., 0].mean() < 128:
                return []
            points = np.tile([[30.0, 20.0]], (68, 1))
            return [landmarking.DetectedFace(box=(0, 0, 10, 10), score=1.0, points=points)]

    monkeypatch.setattr(landmarking, "get_detector", lambda name=None: RedFaces())
    folder = tmp_path / "photos"
    folder.mkdir()
    for index, colour in enumerate([(200, 0, 0), (0, 0, 200), (220, 10, 10)]):
        Image.new("RGB", (60, 40), colour).save(folder / f"{index}.png")
    first = open_dataset(f"folder:{folder},landmarks=true", 20)  # crop 10 px from the left, then half size
    assert len(first) == 2 and len(calls) == 3 and calls[0] == (40, 60, 3)  # detected on the full images
    assert torch.allclose(first.fields["landmarks"][0, 0], torch.tensor([10.0, 10.0]))
    again = open_dataset(f"folder:{folder},landmarks=true", 20)
    assert len(calls) == 3  # read from the cache entry, not detected again
    assert torch.equal(again.fields["landmarks"], first.fields["landmarks"])
    assert torch.equal(again.fields["image"][:], first.fields["image"][:])


def test_bench_reports_the_data_wait_beside_the_step(tmp_path):
    import json

    folder = fill_folder(tmp_path / "faces", 80)
    result = gankit("bench", "dcgan", "--data", f"folder:{folder}", "--image-size", "32", "--batch-size", "16",
                    "--steps", "3", "--warmup", "1", "--json", cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert 0 < report["data_ms"] < report["ms_per_step"] and report["data_fetch_ms"] > 0


def test_a_subset_and_the_whole_folder_keep_their_own_entries(tmp_path, monkeypatch):
    from gankit_core.cli_cache import cache_entries
    from gankit_core.data import decode

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    images = fill_folder(tmp_path / "celeba" / "img_align_celeba", 3)
    (images.parent / "list_landmarks_align_celeba.txt").write_text(
        "2\nlefteye_x ...\n000000.jpg 9 9 15 9 12 12 9 16 15 16\n000001.jpg 9 9 15 9 12 12 9 16 15 16\n")
    assert len(open_dataset(f"celeba:{images.parent}", 16)) == 2
    assert len(open_dataset(f"folder:{images}", 16)) == 3
    monkeypatch.setattr(decode, "read_image", lambda *a, **k: pytest.fail("decoded again"))
    assert len(open_dataset(f"celeba:{images.parent}", 16)) == 2 and len(open_dataset(f"folder:{images}", 16)) == 3
    assert sorted(entry.images for entry in cache_entries(tmp_path / "cache")) == [2, 3]
