"""Model expression (paper 003): section V's settings, the two stages, the data triples and their flips,
training end to end, `gankit transfer` on crops and on a real photo, evaluation against the true images."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from gankit_unet_landmark.model import landmark_images, mirror

from gankit_core import api
from gankit_core.data import open_dataset
from gankit_core.data.landmarks import mirror_landmarks
from gankit_core.data.synthetic import face_params, landmarks
from gankit_core.errors import ConfigError
from gankit_core.images import unit_batch
from gankit_core.testing import check_model_contract


def test_defaults_are_section_v():
    model = api.create_model("expression")
    c = model.config
    assert (c.image_size, c.batch_size, c.g_lr, c.d_lr, c.beta1, c.beta2) == (256, 8, 2e-4, 1e-4, 0.5, 0.999)
    assert (c.lambda_adv, c.lambda_cycle, c.lambda_l1, c.mu_cgan, c.mu_pix) == (0.1, 10, 100, 1, 100)
    assert c.pixel_loss == "l1"  # Eq. 8
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
    model = api.create_model("expression", fusion=False, warp_input=False, image_size=64, g_width=8, d_width=8,
                             transfer_steps=7)
    (stage,) = model.stages()
    assert (stage.name, stage.steps) == ("transfer", 7)
    nets = _networks(model)
    assert set(nets) == {"generator", "discriminator"} and model.inference_networks == ("generator",)
    points = torch.as_tensor(landmarks(face_params(0, [1], [2], [1.0]), 64), dtype=torch.float32)
    guide = model.guide(nets, points, points + 5, torch.zeros(1, 3, 64, 64))
    assert torch.equal(guide, model.draw(points, 64))  # L_s itself


def test_the_log_mse_pixel_loss_is_the_evaluations_mean_psnr_up_to_constants():
    """pixel_loss = "log-mse" ranks outputs as `gankit eval expression`'s mean PSNR does: its change between two sets
    of outputs is minus the change in their mean PSNR, times ln(10) / 10 / 100; Eq. 8's L1 does not (it favours
    halving the error of the worse image over halving the better one's, which the mean PSNR values equally)."""
    from gankit_unet_landmark.model import pixel_loss

    from gankit_core.metrics.image_quality import psnr

    generator = torch.Generator().manual_seed(0)
    truth = torch.rand(2, 3, 16, 16, generator=generator) * 2 - 1
    noise = torch.randn(2, 3, 16, 16, generator=generator)
    scale = torch.tensor([0.03, 0.3])[:, None, None, None]  # a nearly right image and a far worse one
    halved_good, halved_bad = scale * torch.tensor([0.5, 1])[:, None, None, None], scale * torch.tensor([1, 0.5])[:, None, None, None]
    outputs = {name: truth + noise * s for name, s in (("start", scale), ("good", halved_good), ("bad", halved_bad))}
    mean_psnr = {name: psnr(out, truth, (-1, 1)).mean().item() for name, out in outputs.items()}
    for name in ("good", "bad"):
        change = pixel_loss(outputs[name], truth, "log-mse") - pixel_loss(outputs["start"], truth, "log-mse")
        expected = -(mean_psnr[name] - mean_psnr["start"]) * np.log(10) / 10 / 100
        assert change.item() == pytest.approx(expected, rel=0.01)  # the 1e-6 floor: 0.4% of the smallest MSE here
    # Halving either image's error gains the same 3 dB on one image; L1 prefers the bad image's, log-mse neither.
    assert mean_psnr["good"] == pytest.approx(mean_psnr["bad"], abs=0.05)
    l1 = {name: pixel_loss(out, truth, "l1").item() for name, out in outputs.items()}
    assert l1["bad"] < l1["good"] - 0.02
    with pytest.raises(ConfigError, match="pixel_loss must be one of l1, log-mse"):
        api.create_model("expression", pixel_loss="l2")


def test_flips_mirror_images_and_landmarks_together():
    dataset = open_dataset("synthetic-expression:n=4,identities=4", 64)
    batch = unit_batch(dataset.fields)
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


# ------------------------------------------------------------------------------------- end to end, tiny
TINY = {"image_size": 64, "batch_size": 4, "g_width": 8, "d_width": 8, "fusion_width": 8, "fusion_d_width": 8,
        "fusion_steps": 2, "transfer_steps": 2, "data": "synthetic-expression:n=16,identities=8"}
TINY_SET = [item for key, value in TINY.items() if key not in ("image_size", "batch_size")
            for item in ("--set", f"{key}={value}")]


def gankit(*args):
    return subprocess.run([sys.executable, "-m", "gankit_core", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return check_model_contract("expression", tmp_path_factory.mktemp("expression"), **TINY)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    return check_model_contract("expression", tmp_path_factory.mktemp("no-fusion"),
                                **{**TINY, "fusion": False, "warp_input": False})


def test_two_stages_run_in_order_each_with_its_own_losses(trained):
    rows = [json.loads(line) for line in (trained.run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [row for row in rows if "event" not in row]
    fusion = [row for row in steps if row["stage"] == "fusion"]
    transfer = [row for row in steps if row["stage"] == "transfer"]
    assert [row["step"] for row in fusion] == [1, 2] and [row["step"] for row in transfer] == [3, 4]
    assert all({"loss_cycle", "loss_l1", "loss_dj"} <= set(row) and "loss_pix" not in row for row in fusion)
    assert all({"loss_pix", "loss_d", "loss_g"} <= set(row) and "loss_cycle" not in row for row in transfer)


def test_stage_by_stage_the_fusion_module_stays_frozen_and_transfer_warns_about_an_untrained_u_net(tmp_path):
    from gankit_core.engine import checkpoint as ckpt

    common = ["--image-size", "64", "--batch-size", "4", *TINY_SET, "--steps", "2", "--no-progress"]
    first = gankit("run", "expression", "--stage", "fusion", *common, "--out", str(tmp_path / "fusion"))
    assert first.returncode == 0, first.stderr
    second = gankit("run", "expression", "--stage", "transfer", "--init-from", str(tmp_path / "fusion"), *common,
                    "--out", str(tmp_path / "transfer"))
    assert second.returncode == 0, second.stderr
    before = ckpt.read(tmp_path / "fusion")
    after = ckpt.read(tmp_path / "transfer")
    fusion_keys = [key for key in before.tensors if key.startswith("net/fusion/")]
    assert fusion_keys and all(torch.equal(before.tensors[k], after.tensors[k]) for k in fusion_keys)
    generator_keys = [key for key in before.tensors if key.startswith("net/generator/") and "weight" in key]
    assert any(not torch.equal(before.tensors[k], after.tensors[k]) for k in generator_keys)

    made = gankit("data", "synth", "--n", "2", "--size", "64", "--out", str(tmp_path / "faces"))
    assert made.returncode == 0, made.stderr
    faces = [str(tmp_path / "faces" / f"face-0000{i}.png") for i in (0, 1)]
    for run, warned in (("fusion", True), ("transfer", False)):  # the fusion run's U-Net was never trained
        result = gankit("transfer", *faces, "--checkpoint", str(tmp_path / run), "-o", str(tmp_path / "out"), "--force")
        assert result.returncode == 0, result.stderr
        assert ("warning: " in result.stderr and "stopped in the 'fusion' stage" in result.stderr) == warned
    (tmp_path / "faces" / "landmarks.csv").write_bytes(b"\x89PNG\x00\xff\xfe garbage\n")
    damaged = gankit("transfer", *faces, "--checkpoint", str(tmp_path / "transfer"), "-o", str(tmp_path / "out"), "--force")
    assert damaged.returncode == 1 and damaged.stderr.count("\n") == 1, damaged.stderr
    assert "landmarks.csv, line 1: " in damaged.stderr
    (tmp_path / "faces" / "landmarks.csv").write_text("file,x0,y0")  # cut inside its header: no rows left
    damaged = gankit("transfer", *faces, "--checkpoint", str(tmp_path / "transfer"), "-o", str(tmp_path / "out"), "--force")
    assert damaged.returncode == 1 and "landmarks.csv: lists no faces" in damaged.stderr, damaged.stderr


def test_transfer_on_synthetic_crops(tmp_path, trained):
    made = gankit("data", "synth", "--n", "2", "--size", "64", "--out", str(tmp_path / "faces"))
    assert made.returncode == 0, made.stderr
    source, target = tmp_path / "faces" / "face-00000.png", tmp_path / "faces" / "face-00001.png"
    from PIL import Image

    outputs = {}
    for method in ("gan", "warp"):
        result = gankit("transfer", str(source), str(target), "--checkpoint", str(trained.run_dir), "-o",
                        str(tmp_path / "out"), "--method", method)
        assert result.returncode == 0, result.stderr
        suffix = "-warp" if method == "warp" else ""  # each method's own files: the second run needs no --force
        name = f"face-00001-with-face-00000-expression{suffix}.png"
        outputs[method] = np.asarray(Image.open(tmp_path / "out" / name)).astype(int)
        assert outputs[method].shape == (64, 64, 3)
        marks = np.asarray(Image.open(tmp_path / "out" / f"face-00001-with-face-00000-landmarks{suffix}.png"))
        assert marks.shape == (64, 64, 3) and marks.max() > 128 and (marks < 64).mean() > 0.5  # lines on black
    # the tiny U-Net starts as the identity over the warped target and barely trained: the two nearly agree
    assert np.abs(outputs["gan"] - outputs["warp"]).mean() < 8


def _has_detector() -> bool:
    from gankit_core.plugins import get_registry

    return bool(get_registry().names("landmark-detector"))


def test_transfer_errors_are_one_line(tmp_path, trained, baseline):
    made = gankit("data", "synth", "--n", "2", "--size", "64", "--out", str(tmp_path / "faces"))
    assert made.returncode == 0, made.stderr
    faces = [str(tmp_path / "faces" / f"face-0000{i}.png") for i in (0, 1)]
    no_landmarks = gankit("transfer", *faces, "--checkpoint", str(baseline.run_dir), "--method", "warp")
    assert no_landmarks.returncode == 1 and no_landmarks.stderr.count("\n") == 1, no_landmarks.stderr
    assert "without the fusion module" in no_landmarks.stderr
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), (128, 128, 128)).save(blank)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    cases = [
        ((str(tmp_path / "missing.png"), str(blank)), "image not found"),
        ((str(tmp_path / "broken.png"), str(blank)), "cannot read image"),
        ((str(blank), str(blank)), "no face found in" if _has_detector() else "no landmark detector is installed"),
    ]
    for (first, second), message in cases:
        result = gankit("transfer", first, second, "--checkpoint", str(trained.run_dir), "-o", str(tmp_path / "out"))
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and message in result.stderr


def test_transfer_onto_the_astronaut_photo(tmp_path, trained):
    pytest.importorskip("gankit_landmarks_dlib", reason="the dlib landmark detector plugin is not installed")
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    from gankit_core.landmarking import detect_faces

    photo = skimage_data.astronaut()
    Image.fromarray(photo).save(tmp_path / "astronaut.png")
    made = gankit("data", "synth", "--n", "1", "--size", "64", "--out", str(tmp_path / "faces"))
    assert made.returncode == 0, made.stderr
    result = gankit("transfer", str(tmp_path / "faces" / "face-00000.png"), str(tmp_path / "astronaut.png"),
                    "--checkpoint", str(trained.run_dir), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    out = np.asarray(Image.open(tmp_path / "out" / "astronaut-with-face-00000-expression.png"))
    assert out.shape == photo.shape  # pasted back into the whole photo
    changed = np.abs(out.astype(int) - photo.astype(int)).sum(-1) > 0
    face = detect_faces(photo)[0].points
    ys, xs = np.nonzero(changed)
    assert 0.01 < changed.mean() < 0.15  # the face changed, the rest of the photo did not
    assert face[:, 0].min() - 30 < xs.min() and xs.max() < face[:, 0].max() + 30
    assert face[:, 1].min() - 60 < ys.min() and ys.max() < face[:, 1].max() + 30
    assert not changed[:, :100].any() and not changed[300:].any()  # the flag and the suit are untouched


def test_evaluation_against_the_true_images_with_both_baselines(trained, baseline):
    scores = api.evaluate(trained.checkpoint, ["transfer"], count=16, baseline=baseline.checkpoint)
    for method in ("expression", "no-fusion", "unchanged", "warp-phi", "warp-true", "warp-classical"):
        assert 0 < scores[f"{method}/ssim"] < 1 and 0 < scores[f"{method}/psnr"] < 60
    # the warp to the true landmarks moves the features where the truth has them: far better than no change
    assert scores["warp-true/psnr_features"] > scores["unchanged/psnr_features"] + 1
    # the teeth case, on its own: targets showing their teeth whose truths' mouths are closed
    assert 0 < scores["teeth/triples"] < 16
    assert scores["teeth/unchanged/psnr_features"] < scores["unchanged/psnr_features"]  # a harder case
    assert scores["unchanged/landmark_l1"] > 0  # the target's own landmarks are not the truth's
    # the target differs from the truth most where the expression lives: eyes, brows, mouth
    assert scores["unchanged/psnr_features"] < scores["unchanged/psnr"]
    shown = gankit("eval", "expression", "--checkpoint", str(trained.run_dir), "--baseline", str(baseline.run_dir),
                   "-n", "16")
    assert shown.returncode == 0, shown.stderr
    lines = dict(line.split() for line in shown.stdout.splitlines())
    assert float(lines["unchanged/psnr"]) == pytest.approx(scores["unchanged/psnr"], rel=1e-4)
    wrong = gankit("eval", "expression", "--checkpoint", str(trained.run_dir), "-n", "2", "--data", "synthetic-faces")
    assert wrong.returncode == 1 and wrong.stderr.count("\n") == 1 and "needs triples" in wrong.stderr


def test_700_fusion_steps_move_the_target_landmarks_toward_the_truth(tmp_path):
    """The fault the fusion module had (it copied L_t): after 700 steps at width 8 (about 40 s on one thread) its J_gen
    is far closer to the true landmark image J_o than L_t is, on held-out faces. Measured with seeds 0, 1, 2: 0.0099,
    0.0102, 0.0107 against 0.0161. Run on one thread, as measured: the fusion network's small convolutions took
    four times longer on two threads of this shared machine."""
    model = api.create_model("expression", image_size=64, g_width=8, d_width=8, fusion_width=8, fusion_d_width=8,
                             fusion_steps=700, transfer_steps=1, data="synthetic-expression:n=512,identities=64")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = api.train(model, out=tmp_path / "run", progress=False)
        scores = api.evaluate(result.checkpoint, ["transfer"], count=32)
    finally:
        torch.set_num_threads(threads)
    assert scores["fusion/landmark_l1"] < 0.8 * scores["unchanged/landmark_l1"]
    assert scores["unchanged/landmark_l1"] < scores["source/landmark_l1"]  # L_s is another face: further still


def test_the_model_starts_as_the_warp_to_its_own_landmarks(tmp_path):
    """With the warped input and the identity start, the U-Net before its first step is the warp to Phi's landmarks
    exactly: every figure of `gankit eval expression` is warp-phi's, on the teeth triples too. From there the pixel
    loss moves it (the next test: the margin it gains)."""
    model = api.create_model("expression", image_size=64, g_width=8, d_width=8, fusion_width=8, fusion_d_width=8,
                             fusion_steps=30, transfer_steps=1, data="synthetic-expression:n=64,identities=16")
    result = api.train(model, out=tmp_path / "run", progress=False, stage="fusion", sample_every=100000)
    scores = api.evaluate(result.checkpoint, ["transfer"], count=32)
    figures = [key for key in scores if "expression/" in key]
    assert len(figures) >= 3 and scores["warp-phi/psnr"] != scores["unchanged/psnr"]  # the warp moved pixels
    for key in figures:
        assert scores[key] == pytest.approx(scores[key.replace("expression/", "warp-phi/")], abs=1e-9), key


def test_200_transfer_steps_put_the_model_ahead_of_the_warp_to_its_own_landmarks(tmp_path):
    """The U-Net's own gain at CI speed (55 s on one thread, measured): Phi 300 steps at width 8, then the U-Net at width
    16 over the target warped to Phi's landmarks, 200 steps with the cpu preset's pixel loss (each image's PSNR),
    against that warp on 32 held-out triples. Measured with seeds 0 and 1 (the test runs seed 0): SSIM +0.0009 and
    +0.0004, PSNR +0.51 and +0.43 dB, features +0.59 and +0.50 dB (plugins/unet_landmark/NOTES.md section 8). With
    Eq. 8's L1 there was no margin this early: after 100 transfer steps the model was level with the warp (+0.0003
    dB), after 300 1.18 dB behind it."""
    model = api.create_model("expression", image_size=64, g_width=16, d_width=16, fusion_width=8, fusion_d_width=8,
                             fusion_steps=300, transfer_steps=200, pixel_loss="log-mse",
                             data="synthetic-expression:n=512,identities=64")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as measured: this machine's small convolutions ran slower on two threads
    try:
        result = api.train(model, out=tmp_path / "run", progress=False, sample_every=100000)
        scores = api.evaluate(result.checkpoint, ["transfer"], count=32)
    finally:
        torch.set_num_threads(threads)
    assert scores["warp-phi/psnr"] > scores["unchanged/psnr"]  # Phi moved the landmarks: the warp is a real bar
    assert scores["expression/ssim"] > scores["warp-phi/ssim"]
    assert scores["expression/psnr"] > scores["warp-phi/psnr"] + 0.2
    assert scores["expression/psnr_features"] > scores["warp-phi/psnr_features"] + 0.25


@pytest.mark.slow
def test_the_cpu_preset_beats_the_warp_to_phis_landmarks(tmp_path):
    """docs/models/expression.md's run, the `cpu` preset (64 px, half-width networks, 1000 fusion + 1500 transfer
    steps, the U-Net over the target warped to Phi's landmarks, trained on each image's PSNR): on 256 held-out
    triples it measured SSIM 0.9795, 37.32 dB and 28.95 dB over the features against 0.9734, 35.97 and 27.50 for the
    warp to Phi's landmarks, 0.9770, 37.22 and 28.76 for the oracle warp to the true landmarks (33.94 dB for the
    target unchanged), and its fused landmarks were half as far from the truth's as the target's. Those figures come
    from the stages run one after the other (NOTES.md section 7); the margins over the oracle are thin (+0.10 and
    +0.19 dB), so here it must not trail it by more than 0.2 dB."""
    model = api.create_model("expression", preset="cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as measured
    try:
        result = api.train(model, out=tmp_path / "run", progress=False)
        scores = api.evaluate(result.checkpoint, ["transfer"], count=256)
    finally:
        torch.set_num_threads(threads)
    assert scores["expression/ssim"] > scores["warp-phi/ssim"] + 0.004
    assert scores["expression/psnr"] > scores["warp-phi/psnr"] + 1.0
    assert scores["expression/psnr_features"] > scores["warp-phi/psnr_features"] + 1.0
    assert scores["expression/ssim"] > scores["warp-true/ssim"]
    assert scores["expression/psnr"] > scores["warp-true/psnr"] - 0.2
    assert scores["expression/psnr_features"] > scores["warp-true/psnr_features"] - 0.2
    assert scores["expression/psnr"] > scores["unchanged/psnr"] + 2
    assert scores["fusion/landmark_l1"] < 0.7 * scores["unchanged/landmark_l1"]
