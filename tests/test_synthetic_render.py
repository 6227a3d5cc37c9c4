"""The synthetic-face renderer stays pixel-identical to RENDER_VERSION 1 (sets cached on disk and every figure in
the docs were rendered with it), however a set is split into batches, chunks and worker processes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from gankit_core.data import synthetic_dataset
from gankit_core.data.synthetic import face_params, landmarks, render, swap_region

sys.path.insert(0, str(Path(__file__).parent))
from synthetic_render_v1 import render as render_v1  # noqa: E402


def random_faces(seed: int, count: int):
    """Faces over the whole parameter range: every expression, any intensity, many identities (all hair styles)."""
    rng = np.random.default_rng(seed)
    return face_params(seed, rng.integers(0, 10**6, count), rng.integers(0, 7, count), rng.uniform(0, 1, count))


@pytest.mark.parametrize("style", ["photo", "cartoon"])
@pytest.mark.parametrize(("size", "count"), [(32, 300), (61, 120), (128, 24), (256, 10)])
def test_every_pixel_is_the_version_1_renderers(size, count, style):
    faces = random_faces(size, count)
    assert np.array_equal(render(faces, size, style, noise_seed=11), render_v1(faces, size, style, noise_seed=11))


def test_an_exchanged_region_is_the_version_1_renderers():
    target, donor = random_faces(1, 40), random_faces(2, 40)
    for region in ("eyes", "mouth"):
        swapped = swap_region(target, donor, region)
        assert np.array_equal(render(swapped, 96, "photo"), render_v1(swapped, 96, "photo"))


def test_a_set_is_the_same_in_one_process_or_several_and_as_version_1_rendered_it():
    seed, count, size = 5, synthetic_dataset.CHUNK + 70, 40  # a whole chunk and a part one
    alone = synthetic_dataset.render_set(seed, count, size, "photo", 50, "train", workers=1)
    shared = synthetic_dataset.render_set(seed, count, size, "photo", 50, "train", workers=2)
    assert alone.keys() == shared.keys()
    for key in alone:
        assert np.array_equal(alone[key], shared[key]), key
    # what render_set gave before it used processes: chunk by chunk, each chunk's noise seeded by its start
    identity, expression, intensity = synthetic_dataset.sample_plan(seed, count, 50, "train")
    for start in range(0, count, synthetic_dataset.CHUNK):
        part = slice(start, start + synthetic_dataset.CHUNK)
        faces = face_params(seed, identity[part], expression[part], intensity[part])
        expected = render_v1(faces, size, "photo", noise_seed=seed * 1_000_003 + start).transpose(0, 3, 1, 2)
        assert np.array_equal(alone["image"][part], expected)
        assert np.array_equal(alone["landmarks"][part], landmarks(faces, size).astype(np.float32))


def test_a_failing_worker_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(synthetic_dataset, "_WORKER_CODE", "import sys; sys.exit('out of memory, say')")
    with pytest.raises(RuntimeError, match="rendering worker stopped .*out of memory, say"):
        synthetic_dataset.render_set(0, synthetic_dataset.CHUNK * 2, 32, "cartoon", 10, "train", workers=2)


def test_small_sets_render_in_process_and_large_ones_on_every_cpu(monkeypatch):
    monkeypatch.setattr(synthetic_dataset.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert synthetic_dataset.render_workers(64, 64) == 1  # starting a process would cost more than it saves
    assert synthetic_dataset.render_workers(4096, 256) == 4
    assert synthetic_dataset.render_workers(300, 256) == 2  # two chunks
