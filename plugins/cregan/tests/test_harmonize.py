"""The self-supervised harmonisation task (config harmonize_weight): its Lab colour transfer and its loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gankit_cregan.exchange import exchange_masks
from gankit_cregan.harmonize import area_statistics, lab_to_rgb, recolour_area, rgb_to_lab

from gankit_core import api
from gankit_core.errors import ConfigError

TINY = {"image_size": 64, "g_width": 4, "d_width": 4, "batch_size": 4}


def test_lab_is_opencvs_and_inverts():
    import cv2

    rgb = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    image = torch.from_numpy(rgb).permute(2, 0, 1)[None] * 2 - 1
    lab = rgb_to_lab(image)[0].permute(1, 2, 0).numpy()
    assert np.abs(lab - cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)).max() < 0.5  # of L's 0-100
    assert torch.allclose(lab_to_rgb(rgb_to_lab(image)), image, atol=1e-4)


def test_recolouring_moves_the_area_onto_the_partners_tone_and_nothing_else():
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 32, 32, generator=generator) * 0.6 - 0.5  # darker, low-contrast faces
    partner = torch.rand(2, 3, 32, 32, generator=generator) * 0.8 - 0.2
    mask, _ = exchange_masks(
        torch.tensor([[8, 8, 20, 16], [4, 10, 24, 20]]), torch.tensor([[10, 8, 22, 18]] * 2), 32
    )
    moved = recolour_area(image, partner, mask)
    outside = (mask == 0).expand_as(image)
    assert torch.equal(moved[outside], image[outside])
    mean, spread = area_statistics(rgb_to_lab(moved), mask)
    partner_mean, partner_spread = area_statistics(rgb_to_lab(partner), mask)
    assert torch.allclose(mean, partner_mean, atol=0.5) and torch.allclose(spread, partner_spread, rtol=0.05)
    assert torch.allclose(
        recolour_area(image, image, mask), image, atol=1e-4
    )  # a face onto itself: unchanged


def test_a_negative_harmonisation_weight_is_refused():
    with pytest.raises(ConfigError, match="harmonize_weight"):
        api.create_model("cregan", harmonize_weight=-1.0)


def test_harmonisation_loss_is_positive_at_the_identity_start_and_reaches_g():
    model = api.create_model("cregan", **TINY)
    generator = model.build()["generator"]
    faces = torch.rand(4, 3, 64, 64) * 2 - 1
    boxes = torch.tensor([[16, 20, 48, 30], [18, 22, 46, 34], [14, 18, 44, 30], [20, 20, 50, 32]])
    mask, _ = exchange_masks(boxes, boxes.roll(1, 0), 64)
    composite = model.composite_mask(boxes, boxes.roll(1, 0), 64)
    loss = model.harmonization_loss(generator, faces, faces.roll(1, 0), mask, composite)
    assert loss > 0  # G starts as the identity: the blended, recoloured area is not the face
    loss.backward()
    assert any(
        parameter.grad is not None and parameter.grad.abs().sum() > 0 for parameter in generator.parameters()
    )
    same = model.harmonization_loss(
        generator, faces, faces, mask, composite
    )  # recoloured onto itself: nothing to undo
    assert same < loss / 100
