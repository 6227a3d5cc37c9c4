"""Model expression (paper 003): section V's settings, the two stages, the data triples and their flips,
training end to end, `gankit transfer` on crops and on a real photo, evaluation against the true images."""

from __future__ import annotations

import numpy as np
import torch
from gankit_unet_landmark.model import landmark_images, mirror

from gankit_core import api
from gankit_core.data import open_dataset
from gankit_core.data.landmarks import mirror_landmarks
from gankit_core.data.synthetic import face_params, landmarks


def test_defaults_are_section_v():
    model = api.create_model("expression")
    c = model.config
    assert (c.image_size, c.batch_size, c.g_lr, c.d_lr, c.beta1, c.beta2) == (256, 8, 2e-4, 1e-4, 0.5, 0.999)
    assert (c.lambda_adv, c.lambda_cycle, c.lambda_l1, c.mu_cgan, c.mu_pix) == (0.1, 10, 100, 1, 100)
    fusion, transfer = model.stages()
    assert (fusion.name, fusion.epochs, transfer.name, transfer.epochs) == ("fusion", 400, "transfer", 120)
    assert set(fusion.trains) == set(fusion.optimizers) == {"fusion", "landmark_discriminator"}
    assert set(transfer.trains) == set(transfer.optimizers) == {"generator", "discriminator"}
    assert model.inference_networks == ("fusion", "generator")
    rates = {name: (spec.lr, spec.betas) for name, spec in model.optimizers(_networks(model)).items()}
    assert rates == {"generator": (2e-4, (0.5, 0.999)), "fusion": (2e-4, (0.5, 0.999)),
                     "discriminator": (1e-4, (0.5, 0.999)), "landmark_discriminator": (1e-4, (0.5, 0.999))}


def _networks(model):
    from gankit_core.interfaces import Networks

    return Networks(model.build())


def test_without_fusion_the_unet_is_trained_alone_on_the_source_landmarks():
    model = api.create_model("expression", fusion=False, image_size=64, g_width=8, d_width=8, transfer_steps=7)
    (stage,) = model.stages()
    assert (stage.name, stage.steps) == ("transfer", 7)
    nets = _networks(model)
    assert set(nets) == {"generator", "discriminator"} and model.inference_networks == ("generator",)
    points = torch.as_tensor(landmarks(face_params(0, [1], [2], [1.0]), 64), dtype=torch.float32)
    guide = model.guide(nets, points, points + 5, torch.zeros(1, 3, 64, 64))
    assert torch.equal(guide, landmark_images(points, 64, 1.0))  # L_s itself


def test_flips_mirror_images_and_landmarks_together():
    dataset = open_dataset("synthetic-expression:n=4,identities=4", 64)
    batch = {k: (v.float() / 127.5 - 1 if v.dtype == torch.uint8 else v) for k, v in dataset.fields.items()}
    flipped = mirror(batch, torch.tensor([True, False, True, False]))
    assert torch.equal(flipped["target"][0], batch["target"][0].flip(-1))
    assert torch.equal(flipped["truth"][1], batch["truth"][1])
    for key in ("landmarks", "target_landmarks", "truth_landmarks", "reference_landmarks"):
        drawn = landmark_images(flipped[key][:1], 64, 1.0)
        assert torch.allclose(drawn, landmark_images(batch[key][:1], 64, 1.0).flip(-1), atol=1e-3)
    left_eye = flipped["landmarks"][0, 36:42, 0].mean()
    assert left_eye < flipped["landmarks"][0, 42:48, 0].mean()  # dlib order survives: 36-41 stays image-left


def test_the_mirror_permutation_maps_a_symmetric_face_onto_itself():
    params = face_params(0, [3], [1], [1.0])  # synthetic faces are symmetric about face_cx
    points = landmarks(params, 128)
    centre = params.values["face_cx"][0] * 128
    assert np.allclose(mirror_landmarks(points, 2 * centre), points, atol=1e-9)


def test_synthetic_triples_have_ground_truth_and_held_out_identities():
    train = open_dataset("synthetic-expression:n=32,identities=8", 64).fields
    test = open_dataset("synthetic-expression:n=16,identities=8,split=test", 64).fields
    assert not set(train["target_identity"].tolist()) & set(test["target_identity"].tolist())
    assert (train["identity"] != train["target_identity"]).all()
    # the truth is the target's face (same outline) wearing the source's expression (another mouth)
    assert torch.equal(train["truth_landmarks"][:, :17], train["target_landmarks"][:, :17])
    assert not torch.equal(train["truth_landmarks"][:, 48:], train["target_landmarks"][:, 48:])
    from gankit_core.data.expression_triples import triple_plan

    plan = triple_plan(0, 32, 8, "train")  # what the set was rendered from
    source = landmarks(face_params(0, plan["identity"], plan["expression"], plan["intensity"]), 64)
    truth = landmarks(face_params(0, plan["target_identity"], plan["expression"], plan["intensity"]), 64)
    assert np.allclose(train["landmarks"], source, atol=1e-4) and np.allclose(train["truth_landmarks"], truth, atol=1e-4)
