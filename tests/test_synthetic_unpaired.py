"""The built-in unpaired domains (synthetic photo and cartoon faces) and their held-out twins."""

from __future__ import annotations

import numpy as np
import pytest

from gankit_core.data import open_dataset
from gankit_core.data.synthetic_dataset import translation_twins
from gankit_core.errors import DataError


def test_two_domains_of_different_faces():
    dataset = open_dataset("synthetic-unpaired:n=16,identities=8", 32)
    a, b = dataset.fields["image"].numpy(), dataset.fields["image_b"].numpy()
    assert a.shape == b.shape == (16, 3, 32, 32)
    photo = open_dataset("synthetic-faces:n=16,identities=8", 32).fields["image"].numpy()
    assert np.array_equal(a, photo)  # domain A is the photo set the other models train on
    twins_of_a = open_dataset("synthetic-faces:n=16,identities=8,style=cartoon", 32).fields["image"].numpy()
    assert not any(np.array_equal(b[i], twins_of_a[i]) for i in range(16))  # B holds no twin of A: unpaired


def test_styles_can_be_swapped_or_equal():
    dataset = open_dataset("synthetic-unpaired:n=4,a=cartoon,b=photo", 32)
    assert dataset.name == "synthetic-unpaired:cartoon->photo"
    with pytest.raises(DataError, match="a and b must be one of photo, cartoon"):
        open_dataset("synthetic-unpaired:b=anime", 32)


def test_twins_are_one_face_in_both_styles_from_held_out_identities():
    photo, cartoon = translation_twins(0, 6, 64, ("photo", "cartoon"))
    assert photo.shape == cartoon.shape == (6, 3, 64, 64)
    train = open_dataset("synthetic-faces:n=64", 64).fields["image"].numpy()
    assert not any(np.array_equal(p, t) for p in photo for t in train)
    # Each photo's nearest cartoon (4 x 4 block means, so flat shading and texture do not count) is its twin.
    def blocks(images):
        return images.astype(float).reshape(6, 3, 16, 4, 16, 4).mean((3, 5)).reshape(6, -1)

    distances = ((blocks(photo)[:, None] - blocks(cartoon)[None]) ** 2).sum(-1)
    assert distances.argmin(1).tolist() == list(range(6))
