"""CREGAN: Eq. 1 and its inverse, Algorithm 1's training, `gankit swap`, evaluation against ground truth."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from gankit_cregan.exchange import border_band, exchange, exchange_masks, feather_mask

from gankit_core import api
from gankit_core.testing import check_model_contract

TINY = {"image_size": 64, "g_width": 4, "d_width": 4, "batch_size": 4}


def gankit(*args):
    return subprocess.run([sys.executable, "-m", "gankit_core", *args], capture_output=True, text=True)


def test_defaults_are_section_iv_b():
    c = api.create_model("cregan").config
    assert (c.lr, c.beta1, c.beta2, c.lr_schedule, c.batch_size) == (0.001, 0.5, 0.9, "step:100:0.9", 16)
    assert (c.gamma, c.k) == (0.9, 1.0) and api.create_model("cregan").default_steps == 1000


def test_exchange_and_its_inverse():
    a, b = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    mask, union = exchange_masks(torch.tensor([[2, 2, 6, 6], [0, 0, 4, 4]]), torch.tensor([[4, 4, 8, 8], [8, 8, 12, 12]]), 16)
    assert mask[0, 0, 2:8, 2:8].sum() == 4 * 4 * 2 - 4  # the union of two overlapping boxes
    assert union.tolist() == [[2, 2, 8, 8], [0, 0, 12, 12]]
    a_with_b, b_with_a = exchange(a, b, mask)
    inside = mask.bool().expand_as(a)
    assert torch.equal(a_with_b[inside], b[inside]) and torch.equal(a_with_b[~inside], a[~inside])
    assert torch.equal(b_with_a[inside], a[inside])
    back_a, back_b = exchange(a_with_b, b_with_a, mask)  # Eq. 2 on a perfect generator: the originals
    assert torch.equal(back_a, a) and torch.equal(back_b, b)


def test_feather_mask_grows_the_exchange_area_by_a_linear_band():
    boxes_a, boxes_b = torch.tensor([[4, 4, 8, 8]]), torch.tensor([[10, 4, 12, 8]])
    feather = feather_mask(boxes_a, boxes_b, 20, band=2)[0, 0]
    mask, _ = exchange_masks(boxes_a, boxes_b, 20)
    assert torch.equal(feather[mask[0, 0].bool()], torch.ones(int(mask.sum())))  # 1 in either box
    assert torch.allclose(feather[6, 8:10], torch.tensor([2 / 3, 2 / 3]))  # 1 px from a box (between the two)
    assert torch.allclose(feather[6, 2:4], torch.tensor([1 / 3, 2 / 3]))  # 2 px, 1 px left of box A
    assert feather[6, 1] == 0 and feather[0, 0] == 0  # beyond the band: the input, untouched
    assert torch.equal(feather_mask(boxes_a, boxes_b, 20, band=0), mask)


def test_identity_start_is_the_paste_and_g_changes_only_the_area_and_its_band():
    model = api.create_model("cregan", **TINY, blend="paste", fade=0, smooth=5)  # the paper's paste as G's input
    generator = model.build()["generator"]
    nets = type("Nets", (), {"generator": generator})()
    a, b = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    boxes_a, boxes_b = torch.tensor([[16, 20, 48, 30], [18, 22, 46, 34]]), torch.tensor([[18, 22, 46, 34], [16, 20, 48, 30]])
    out_a, out_b, mask = model.swap(nets, a, b, boxes_a, boxes_b)
    pasted_a, pasted_b = exchange(a, b, mask)
    assert torch.equal(out_a, pasted_a) and torch.equal(out_b, pasted_b)  # G starts exactly at Eq. 1's paste
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)  # G off the identity
        out_a, _, _ = model.swap(nets, a, b, boxes_a, boxes_b)
    changed = (out_a != pasted_a).any(1)
    band = feather_mask(boxes_a, boxes_b, 64, model.band_pixels(64))[:, 0] > 0
    assert changed[mask[:, 0].bool()].float().mean() > 0.9 and not changed[~band].any()
    raw = api.create_model("cregan", **TINY, blend="paste", fade=0, smooth=0)
    out_raw, _, _ = raw.swap(nets, a, b, boxes_a, boxes_b)

    def roughness(change):  # mean absolute difference between horizontal neighbours
        return (change[..., 1:] - change[..., :-1]).abs().mean()

    assert roughness(out_a - pasted_a) < roughness(out_raw - pasted_a) / 2  # smooth low-passes G's change
    whole = api.create_model("cregan", **TINY, blend="paste", fade=0, composite="whole", residual=False,
                             identity_start=False, smooth=0)
    whole_nets = type("Nets", (), {"generator": whole.build()["generator"]})()
    out_whole, _, _ = whole.swap(whole_nets, a, b, boxes_a, boxes_b)
    assert (out_whole != pasted_a).any(1)[~band].float().mean() > 0.9  # the paper's G rewrites the whole face


def test_identity_start_over_a_poisson_blend_is_that_blend():
    """With ``blend`` poisson-mixed G refines OpenCV's mixed Poisson blend (the torch layer), starting exactly at it."""
    from gankit_cregan.poisson import poisson_blend

    model = api.create_model("cregan", **TINY, blend="poisson-mixed")
    nets = type("Nets", (), {"generator": model.build()["generator"]})()
    a, b = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    boxes_a, boxes_b = torch.tensor([[16, 20, 48, 30], [18, 22, 46, 34]]), torch.tensor([[18, 22, 46, 34], [16, 20, 48, 30]])
    out_a, out_b, mask = model.swap(nets, a, b, boxes_a, boxes_b)
    pasted_a, pasted_b = exchange(a, b, mask)
    assert torch.equal(out_a, poisson_blend(a, pasted_a, mask, mixed=True))
    assert torch.equal(out_b, poisson_blend(b, pasted_b, mask, mixed=True))
    assert not torch.equal(out_a, pasted_a)


def test_border_band_is_both_sides_of_the_edge():
    mask = torch.zeros(1, 1, 12, 12)
    mask[..., 3:9, 3:9] = 1
    band = border_band(mask, 1)[0, 0]
    assert band[2:10, 2:10].sum() == 8 * 8 - 4 * 4 and band[5, 5] == 0 and band[0, 0] == 0


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_short_training_run_has_finite_losses(tmp_path, precision):
    result = check_model_contract("cregan", tmp_path, steps=3, precision=precision, n_critic=3, g_warmup=0, **TINY)
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert "loss_rec" in rows[2] and "loss_rec" not in rows[0]  # the paper's trainG 3: G on every third iteration
    assert np.isfinite(rows[2]["loss_harmonize"]) and rows[2]["loss_harmonize"] > 0  # the harmonisation task, default on
    assert all(np.isfinite(row["loss_d"]) and np.isfinite(row["gp"]) for row in rows)
    # The penalty reads the critic's gradient at the interpolates: a penalty cut off from the critic (no gradient)
    # is exactly (0 - 1)^2 = 1 at every step, and one cut off from the interpolates would not move between steps.
    penalties = [row["gp"] for row in rows]
    assert all(value > 0 and value != 1.0 for value in penalties) and len(set(penalties)) == len(penalties)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("cregan")
    result = check_model_contract("cregan", out, steps=3, **TINY)
    return result.checkpoint


def test_swap_on_synthetic_crops(tmp_path, checkpoint):
    made = gankit("data", "synth", "--n", "2", "--size", "64", "--out", str(tmp_path / "faces"))
    assert made.returncode == 0, made.stderr
    a, b = tmp_path / "faces" / "face-00000.png", tmp_path / "faces" / "face-00001.png"
    swapped = gankit("swap", str(a), str(b), "--checkpoint", str(checkpoint), "--region", "eyes", "-o", str(tmp_path / "out"))
    assert swapped.returncode == 0, swapped.stderr
    from PIL import Image

    rows = {row["file"]: row for row in csv.DictReader((tmp_path / "faces" / "labels.csv").open())}
    boxes = [torch.tensor([[int(rows[f.name][f"eye_{c}"]) for c in ("x0", "y0", "x1", "y1")]]) for f in (a, b)]
    from gankit_core.data.landmarks import box_masks

    band = feather_mask(boxes[0], boxes[1], 64, api.load_checkpoint(checkpoint).model.band_pixels(64))[0, 0] > 0
    _, union = exchange_masks(boxes[0], boxes[1], 64)
    rectangle = box_masks(union, 64)[0, 0] > 0  # a Poisson blend solves over the area's bounding rectangle
    for source, name in ((a, "face-00000-with-face-00001-eyes.png"), (b, "face-00001-with-face-00000-eyes.png")):
        out = np.asarray(Image.open(tmp_path / "out" / name)).astype(int)
        changed = torch.from_numpy(np.abs(out - np.asarray(Image.open(source)).astype(int)).sum(-1) > 0)
        assert out.shape == (64, 64, 3) and changed.any() and not changed[~(band | rectangle)].any()


def test_swap_with_every_blend_changes_only_around_the_area_and_says_its_seam(tmp_path, checkpoint):
    made = gankit("data", "synth", "--n", "2", "--size", "64", "--out", str(tmp_path / "faces"))
    assert made.returncode == 0, made.stderr
    a, b = tmp_path / "faces" / "face-00000.png", tmp_path / "faces" / "face-00001.png"
    from PIL import Image

    rows = {row["file"]: row for row in csv.DictReader((tmp_path / "faces" / "labels.csv").open())}
    boxes = [torch.tensor([[int(rows[f.name][f"eye_{c}"]) for c in ("x0", "y0", "x1", "y1")]]) for f in (a, b)]
    near = feather_mask(boxes[0], boxes[1], 64, 8)[0, 0] > 0  # the area and 8 px around it
    outputs = {}
    for blend in ("gan", "poisson", "poisson-mixed", "colour", "feather", "paste"):
        result = gankit("swap", str(a), str(b), "--checkpoint", str(checkpoint), "--region", "eyes", "--blend", blend,
                        "-o", str(tmp_path / blend))
        assert result.returncode == 0, result.stderr
        seams = [float(line.split()[1]) for line in result.stdout.splitlines() if line.strip().startswith("seam")]
        assert len(seams) == 2 and all(seam >= 1 for seam in seams), result.stdout
        out = np.asarray(Image.open(tmp_path / blend / "face-00000-with-face-00001-eyes.png")).astype(int)
        changed = torch.from_numpy(np.abs(out - np.asarray(Image.open(a)).astype(int)).sum(-1) > 0)
        assert changed.any() and not changed[~near].any(), blend
        outputs[blend] = (out, seams[0])
    assert not np.array_equal(outputs["poisson"][0], outputs["paste"][0])
    assert outputs["paste"][1] > outputs["poisson"][1]  # the paste leaves the worse seam
    bad = gankit("swap", str(a), str(b), "--checkpoint", str(checkpoint), "--blend", "laplace", "-o", str(tmp_path / "x"))
    assert bad.returncode == 2 and "laplace" in bad.stderr


def test_swap_of_two_files_with_one_name_keeps_both_outputs_and_warns_nothing(tmp_path, checkpoint):
    for folder, seed in (("x", "0"), ("y", "1")):
        made = gankit("data", "synth", "--n", "1", "--size", "64", "--seed", seed, "--out", str(tmp_path / folder))
        assert made.returncode == 0, made.stderr
    a, b = tmp_path / "x" / "face-00000.png", tmp_path / "y" / "face-00000.png"
    swapped = gankit("swap", str(a), str(b), "--checkpoint", str(checkpoint), "-o", str(tmp_path / "out"))
    assert swapped.returncode == 0 and swapped.stderr == "", swapped.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "face-00000-A-with-face-00000-B-mouth.png", "face-00000-B-with-face-00000-A-mouth.png"]


def test_swap_says_a_damaged_labels_csv_instead_of_falling_back_to_the_detector(tmp_path, checkpoint):
    made = gankit("data", "synth", "--n", "2", "--size", "64", "--out", str(tmp_path / "faces"))
    assert made.returncode == 0, made.stderr
    (tmp_path / "faces" / "labels.csv").write_bytes(b"\x89garbage\x00\xff,\n1,2\n")
    result = gankit("swap", str(tmp_path / "faces" / "face-00000.png"), str(tmp_path / "faces" / "face-00001.png"),
                    "--checkpoint", str(checkpoint), "-o", str(tmp_path / "out"))
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "labels.csv: not a labels table" in result.stderr
    table = "file,eye_x0,eye_y0,eye_x1,eye_y1,mouth_x0,mouth_y0,mouth_x1,mouth_y1\nface-00000.png,1,2\n"
    (tmp_path / "faces" / "labels.csv").write_text(table)  # a row cut short
    result = gankit("swap", str(tmp_path / "faces" / "face-00000.png"), str(tmp_path / "faces" / "face-00001.png"),
                    "--checkpoint", str(checkpoint), "-o", str(tmp_path / "out"))
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "has no valid eye/mouth boxes" in result.stderr


def test_swap_errors_are_one_line(tmp_path, checkpoint):
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.new("RGB", (200, 200), (128, 128, 128)).save(blank)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    cases = [
        ((str(tmp_path / "missing.png"), str(blank)), "image not found"),
        ((str(tmp_path / "broken.png"), str(blank)), "cannot read image"),
        ((str(blank), str(blank)), "no face found in"),
    ]
    for (first, second), message in cases:
        result = gankit("swap", first, second, "--checkpoint", str(checkpoint), "-o", str(tmp_path / "out"))
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and message in result.stderr


def test_swap_on_real_photos_through_the_detector(tmp_path, checkpoint):
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    photo = skimage_data.astronaut()
    Image.fromarray(photo).save(tmp_path / "a.png")
    Image.fromarray(np.ascontiguousarray(photo[:, ::-1])).save(tmp_path / "b.png")  # mirrored: another "face"
    result = gankit("swap", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--checkpoint", str(checkpoint),
                    "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    out = np.asarray(Image.open(tmp_path / "out" / "a-with-b-mouth.png"))
    assert out.shape == photo.shape  # pasted back into the full photo
    changed = np.abs(out.astype(int) - photo.astype(int)).sum(-1) > 0
    ys, xs = np.nonzero(changed)
    from gankit_core.landmarking import detect_faces

    mouth = detect_faces(photo)[0].points[48:68].mean(0)
    assert changed.mean() < 0.1  # the rest of the photo is untouched
    assert abs(ys.mean() - mouth[1]) < 25 and abs(xs.mean() - mouth[0]) < 25  # the change is around her mouth

    def detail(image):  # mean absolute second difference of the grey image inside the changed area's bounding box
        grey = image[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(float).mean(-1)
        return np.abs(np.diff(grey, 2, axis=0)).mean() + np.abs(np.diff(grey, 2, axis=1)).mean()

    # The mouth comes from B's photo at photo resolution, as sharp as A's own (B is A mirrored), not a 64 px crop
    # blown up to photo size.
    assert detail(out) > 0.7 * detail(photo)


def test_evaluation_against_the_true_exchange(checkpoint):
    scores = api.evaluate(checkpoint, ["exchange"], count=4)
    for region in ("eyes", "mouth"):
        for method in ("gan", "paste", "feather", "colour", "poisson", "poisson-mixed"):
            for metric in ("psnr", "ssim", "psnr_inside", "psnr_border", "psnr_outside", "seam"):
                assert f"{region}/{method}_{metric}" in scores, (region, method, metric)
        assert scores[f"{region}/paste_psnr_outside"] == float("inf")  # pasting leaves the rest untouched
        assert scores[f"{region}/paste_psnr"] > 15  # and the paste is already close to the truth
        # the classical blends order as they do on the 128 pairs of docs/models/cregan.md
        assert scores[f"{region}/poisson-mixed_psnr"] > scores[f"{region}/poisson_psnr"] > scores[f"{region}/paste_psnr"]
        assert scores[f"{region}/paste_seam"] > scores[f"{region}/poisson-mixed_seam"] >= 1
    bad = gankit("eval", "cregan", "--checkpoint", str(checkpoint), "--metric", "exchange", "-n", "2",
                 "--data", "folder:/tmp")
    assert bad.returncode == 1 and "needs synthetic faces" in bad.stderr


# How far G may trail Poisson mixed after the CI run: measured (config version 4, 1 thread, 20 iterations in 34 s of
# training) eyes -0.020 dB, +0.0001, -0.004 dB; mouth -0.0004 dB, 0.0000, +0.017 dB (PSNR, SSIM, border PSNR).
MARGINS = {"psnr": 0.1, "ssim": 0.001, "psnr_border": 0.1}


def test_a_short_run_stays_at_poisson_mixed_and_ahead_of_the_other_blends(tmp_path):
    """G starts at Poisson mixed (the best classical blend) and, at make run's size (the cpu preset, today's
    defaults: the harmonisation task on), does not fall behind it in a short run: 20 iterations on 32 held-out
    pairs (G's lead needs make run's 150: the slow test below). Measured on one thread (more threads change the summation order, so the trajectory): see MARGINS.
    Poisson mixed is itself ahead of every other blend, so G is too."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = api.train(api.create_model("cregan", preset="cpu"), steps=20, out=tmp_path, progress=False)
        scores = api.evaluate(result.checkpoint, ["exchange"], count=32)
    finally:
        torch.set_num_threads(threads)
    for region in ("eyes", "mouth"):
        for metric, margin in MARGINS.items():
            gan, best = scores[f"{region}/gan_{metric}"], scores[f"{region}/poisson-mixed_{metric}"]
            assert gan > best - margin, (region, metric, gan, best)
            for other in ("paste", "feather", "colour", "poisson"):
                assert gan > scores[f"{region}/{other}_{metric}"], (region, metric, other)


@pytest.mark.slow
def test_make_run_is_ahead_of_poisson_mixed_on_the_eyes_level_on_the_mouth_and_ahead_of_the_other_blends(tmp_path):
    """docs/models/cregan.md's table, 128 held-out pairs: at make run's settings and iterations (config version 4,
    2 threads) G is ahead of the paste, the feather, the colour transfer and normal Poisson on every figure; against
    Poisson mixed it measured eyes +0.51 dB PSNR, +0.0027 SSIM, +0.23 dB border, mouth +0.014 dB, +0.000004,
    +0.025 dB (after the speed round's convolution forms; +0.54, +0.0035, +0.38 before them). The bounds below hold
    the eyes' lead at about half its size and the mouth at level, with room for run-to-run noise."""
    result = api.train(api.create_model("cregan", preset="cpu"), out=tmp_path, progress=False)  # make run's 150
    scores = api.evaluate(result.checkpoint, ["exchange"], count=128)
    lead = {"eyes": {"psnr": 0.25, "ssim": 0.0015, "psnr_inside": 0.25, "psnr_border": 0.15},  # G - Poisson mixed >
            "mouth": {"psnr": -0.05, "ssim": -0.0002, "psnr_inside": -0.05, "psnr_border": -0.1}}
    for region, bounds in lead.items():
        for metric, bound in bounds.items():
            gan = scores[f"{region}/gan_{metric}"]
            assert gan - scores[f"{region}/poisson-mixed_{metric}"] > bound, (region, metric)
            for other in ("paste", "feather", "colour", "poisson"):
                assert gan > scores[f"{region}/{other}_{metric}"], (region, metric, other)
        assert scores[f"{region}/gan_seam"] < scores[f"{region}/colour_seam"]
    assert scores["eyes/gan_seam"] < scores["eyes/poisson-mixed_seam"]


def test_trains_on_a_celeba_folder_with_its_landmark_file(tmp_path):
    """Real-folder data: CelebA's layout, boxes from its 5 points (here drawn from synthetic faces)."""
    from PIL import Image

    from gankit_core.data.synthetic import render_faces

    images, points = render_faces(0, list(range(8)), [0] * 8, [1.0] * 8, 96)
    folder = tmp_path / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    lines = ["8", "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y"]
    for index, (image, marks) in enumerate(zip(images, points, strict=True)):
        name = f"{index:06d}.jpg"
        Image.fromarray(image).save(folder / name)
        five = [marks[36:42].mean(0), marks[42:48].mean(0), marks[30], marks[48], marks[54]]
        lines.append(name + " " + " ".join(f"{v:.0f}" for point in five for v in point))
    (tmp_path / "celeba" / "list_landmarks_align_celeba.txt").write_text("\n".join(lines) + "\n")
    result = check_model_contract("cregan", tmp_path, steps=1, **{**TINY, "data": f"celeba:{tmp_path / 'celeba'}"})
    assert result.step == 1
