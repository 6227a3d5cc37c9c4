"""Data: synthetic faces (determinism, landmarks, ground truth), folder datasets and their bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from gankit_core.data import open_dataset
from gankit_core.data.landmarks import box_masks, draw_landmarks, region_boxes
from gankit_core.data.loader import BatchLoader
from gankit_core.data.synthetic import (
    EXPRESSIONS,
    face_params,
    landmarks,
    render,
    render_faces,
    true_exchange,
    with_expression,
)
from gankit_core.errors import DataError


def gankit(*args):
    return subprocess.run([sys.executable, "-m", "gankit_core", *args], capture_output=True, text=True)


def test_rendering_is_deterministic_per_seed_index_and_size():
    a = render_faces(3, [5, 6], [1, 2], [0.8, 0.9], 64)[0]
    b = render_faces(3, [5, 6], [1, 2], [0.8, 0.9], 64)[0]
    c = render_faces(4, [5, 6], [1, 2], [0.8, 0.9], 64)[0]
    assert a.dtype == np.uint8 and a.shape == (2, 64, 64, 3)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # a face does not depend on which other faces share its batch
    single = render_faces(3, [6], [2], [0.9], 64)[0]
    # the sensor noise depends on the batch position, the face does not: far closer than another face is
    assert np.abs(a[1:].astype(int) - single).mean() < 4 < np.abs(a[:1].astype(int) - single).mean()


def test_dataset_is_cached_and_identical(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    first = open_dataset("synthetic-faces:n=16", 64)
    assert list(tmp_path.glob("*.safetensors"))
    second = open_dataset("synthetic-faces:n=16", 64)
    assert torch.equal(first.fields["image"], second.fields["image"])
    assert set(first.fields) >= {"image", "landmarks", "eye_box", "mouth_box", "identity", "expression", "style"}


@pytest.mark.parametrize("size", [64, 128, 256])
def test_landmarks_follow_dlib_order_and_lie_on_the_face(size):
    params = face_params(0, np.arange(14), np.arange(14) % 7, np.ones(14))
    points = landmarks(params, size)
    assert points.shape == (14, 68, 2)
    v = params.values
    cx, cy = v["face_cx"] * size, v["face_cy"] * size
    rx, ry, power = v["face_rx"] * size, v["face_ry"] * size, v["face_power"][:, None]
    outline = (np.abs((points[..., 0] - cx[:, None]) / rx[:, None]) ** power
               + np.abs((points[..., 1] - cy[:, None]) / ry[:, None]) ** power) ** (1 / power)
    assert (outline <= 1.0 + 1e-6).all()  # every point on or inside the face outline (a superellipse)
    assert np.allclose(outline[:, :17], 1.0)  # and the jaw exactly on it
    assert (points[:, 8, 1] > points[:, 57, 1]).all()  # chin below the lower lip
    assert (points[:, 36:42, 0].mean(1) < points[:, 42:48, 0].mean(1)).all()  # 36-41 on the image's left
    assert (points[:, 19, 1] < points[:, 37, 1]).all()  # brow above the eye
    assert (points[:, 27, 1] < points[:, 30, 1]).all() and (points[:, 30, 1] < points[:, 51, 1]).all()
    assert (points[:, 0, 0] < points[:, 16, 0]).all() and (points[:, 48, 0] < points[:, 54, 0]).all()


def test_expressions_move_mouth_brows_and_eyes():
    neutral = landmarks(face_params(0, [1], [0], [1.0]), 128)[0]
    happy = landmarks(face_params(0, [1], [EXPRESSIONS.index("happiness")], [1.0]), 128)[0]
    surprise = landmarks(face_params(0, [1], [EXPRESSIONS.index("surprise")], [1.0]), 128)[0]
    assert happy[48, 1] < neutral[48, 1]  # smile lifts the mouth corners
    assert surprise[66, 1] - surprise[62, 1] > neutral[66, 1] - neutral[62, 1] + 2  # mouth opens
    assert surprise[19, 1] < neutral[19, 1]  # brows rise
    assert surprise[41, 1] - surprise[37, 1] > neutral[41, 1] - neutral[37, 1]  # eyes widen


def test_same_identity_with_another_expression():
    faces = with_expression(0, [4, 4], [0, EXPRESSIONS.index("anger")], 64)
    assert faces.shape == (2, 64, 64, 3)
    difference = np.abs(faces[0].astype(int) - faces[1].astype(int)).sum(-1)
    assert 0 < (difference > 30).mean() < 0.15  # only the expressive parts change


def test_true_exchange_changes_only_the_region():
    target, donor = ([1], [0], [1.0]), ([2], [0], [1.0])
    original = render(face_params(0, *target), 128)
    for region, box_key in (("eyes", "eye_box"), ("mouth", "mouth_box")):
        exchanged, points = true_exchange(0, target, donor, region, 128)
        box = region_boxes(points, 128)[box_key][0]
        mask = box_masks(box[None], 128)[0, 0].numpy().astype(bool)
        changed = np.abs(exchanged[0].astype(int) - original[0].astype(int)).sum(-1) > 30
        assert changed[mask].mean() > 0.02  # the region took the donor's features
        assert changed[~mask].mean() < 0.01  # and nothing else moved


def test_boxes_are_square_and_hold_their_region():
    params = face_params(0, np.arange(8), np.arange(8) % 7, np.ones(8))
    points = landmarks(params, 128)
    boxes = region_boxes(points, 128)
    for key, part in (("eye_box", slice(36, 48)), ("mouth_box", slice(48, 68))):
        x0, y0, x1, y1 = boxes[key].T
        assert np.array_equal(x1 - x0, y1 - y0)
        assert (points[:, part, 0] >= x0[:, None]).all() and (points[:, part, 0] <= x1[:, None]).all()
        assert (points[:, part, 1] >= y0[:, None]).all() and (points[:, part, 1] <= y1[:, None]).all()
    five = np.stack([points[:, 36:42].mean(1), points[:, 42:48].mean(1), points[:, 30], points[:, 48], points[:, 54]], 1)
    from_five = region_boxes(five, 128)
    assert np.array_equal(from_five["eye_box"][:, 2] - from_five["eye_box"][:, 0],
                          from_five["eye_box"][:, 3] - from_five["eye_box"][:, 1])


def test_landmark_images_draw_the_contours():
    points = landmarks(face_params(0, [0], [0], [1.0]), 64)
    image = draw_landmarks(points, 64)
    assert image.shape == (1, 1, 64, 64) and image.min() >= 0 and image.max() <= 1
    x, y = points[0, 30].round().astype(int)
    assert image[0, 0, y, x] > 0.5 and image[0, 0, 2, 2] == 0


def test_loader_shards_ranks_and_restores_position():
    dataset = open_dataset("synthetic-faces:n=32,identities=8", 32)
    whole = BatchLoader(dataset, 8, seed=1)
    ranks = [BatchLoader(dataset, 8, seed=1, rank=r, world_size=2) for r in range(2)]
    for _ in range(5):  # across an epoch boundary
        full = whole.next()["identity"]
        parts = torch.cat([loader.next()["identity"] for loader in ranks])
        assert torch.equal(full, parts)
    state = whole.state()
    expected = whole.next()["image"]
    again = BatchLoader(dataset, 8, seed=1)
    again.load_state(state)
    assert torch.equal(again.next()["image"], expected)


# ----------------------------------------------------------------------------------- real folders
def write_image(path, size=(40, 30), mode="RGB", colour=(200, 10, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour if mode == "RGB" else colour[: len(mode)]).save(path)
    return path


def test_folder_reads_recursively_and_converts(tmp_path):
    write_image(tmp_path / "a.png")
    write_image(tmp_path / "sub" / "b.jpg", mode="L", colour=(90,))
    write_image(tmp_path / "sub" / "c.png", mode="RGBA", colour=(0, 0, 255, 255))
    (tmp_path / "notes.txt").write_text("not an image")
    dataset = open_dataset(f"folder:{tmp_path}", 32)
    assert dataset.fields["image"].shape == (3, 3, 32, 32)
    assert dataset.fields["image"].dtype == torch.uint8
    gray = dataset.fields["image"][1]
    assert torch.equal(gray[0], gray[1])  # grayscale became RGB


def test_exif_orientation_is_honoured(tmp_path):
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 20, 20))  # white on the left half
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    image.save(tmp_path / "rotated.jpg", exif=exif)
    from gankit_core.data.folders import read_image

    array, _ = read_image(tmp_path / "rotated.jpg")
    assert array.shape == (40, 20, 3)  # portrait after the EXIF rotation
    assert array[:20].mean() > 200 and array[20:].mean() < 50  # white on top


def test_corrupt_images_are_skipped_with_a_warning_or_refused_when_strict(tmp_path):
    write_image(tmp_path / "good.png")
    good_bytes = (tmp_path / "good.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(good_bytes[: len(good_bytes) // 2])
    (tmp_path / "garbage.jpg").write_bytes(b"this is not a jpeg")
    grid = str(tmp_path.with_name(f"{tmp_path.name}-grid.png"))  # outside the folder: not one of its images
    shown = gankit("data", "show", f"folder:{tmp_path}", "-o", grid, "--size", "32")
    assert shown.returncode == 0, shown.stderr
    warnings = shown.stderr.strip().splitlines()
    assert sum("truncated.png" in line for line in warnings) == 1 and sum("garbage.jpg" in line for line in warnings) == 1
    assert "skipped 2 unreadable image(s) of 3" in warnings[-1]
    strict = gankit("data", "show", f"folder:{tmp_path}", "-o", grid, "--strict", "--force")
    assert strict.returncode == 1 and strict.stderr.startswith("error: cannot read image") and "Traceback" not in strict.stderr


@pytest.mark.parametrize(("layout", "message"), [
    ("missing", "folder not found"),
    ("empty", "folder is empty"),
    ("no-images", "no images of a supported format"),
])
def test_bad_folders_are_one_line_errors(tmp_path, layout, message):
    folder = tmp_path / "data"
    if layout != "missing":
        folder.mkdir()
    if layout == "no-images":
        (folder / "readme.txt").write_text("hello")
    result = gankit("data", "show", f"folder:{folder}", "-o", str(tmp_path / "grid.png"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr and str(folder) in result.stderr


def test_unpaired_layout(tmp_path):
    for i in range(3):
        write_image(tmp_path / "trainA" / f"{i}.png", colour=(255, 0, 0))
    for i in range(2):
        write_image(tmp_path / "trainB" / f"{i}.png", colour=(0, 0, 255))
    dataset = open_dataset(f"unpaired:{tmp_path}", 32)
    assert dataset.fields["image"].shape[0] == 3 == dataset.fields["image_b"].shape[0]
    assert (dataset.fields["image"][:, 0] > 200).all() and (dataset.fields["image_b"][:, 2] > 200).all()
    (tmp_path / "trainB" / "0.png").unlink()
    (tmp_path / "trainB" / "1.png").unlink()
    (tmp_path / "trainB").rmdir()
    with pytest.raises(DataError, match=r"has no trainB/"):
        open_dataset(f"unpaired:{tmp_path}", 32)


def test_celeba_landmarks_follow_the_crop(tmp_path):
    write_image(tmp_path / "img_align_celeba" / "000001.jpg", size=(178, 218))
    (tmp_path / "list_landmarks_align_celeba.txt").write_text(
        "1\nlefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y\n"
        "000001.jpg 69 109 106 113 77 142 73 152 108 154\n")
    dataset = open_dataset(f"celeba:{tmp_path}", 89)  # half of 178: points scale by 0.5 after a 20 px crop
    points = dataset.fields["landmarks5"][0]
    assert torch.allclose(points[0], torch.tensor([34.5, 44.5]))
    eye = dataset.fields["eye_box"][0]
    assert eye[2] - eye[0] == eye[3] - eye[1]


def test_data_synth_writes_images_and_labels(tmp_path):
    result = gankit("data", "synth", "--n", "4", "--size", "64", "--style", "cartoon", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert len(list(tmp_path.glob("face-*.png"))) == 4
    labels = (tmp_path / "labels.csv").read_text().splitlines()
    assert labels[0].startswith("file,identity,expression") and len(labels) == 5
    from gankit_core.data.folders import read_landmark_csv

    table = read_landmark_csv(tmp_path / "landmarks.csv")
    assert table["face-00000.png"].shape == (68, 2)


def test_data_show_draws_landmarks(tmp_path):
    result = gankit("data", "show", "synthetic-faces:n=16", "-n", "4", "--landmarks", "-o", str(tmp_path / "g.png"))
    assert result.returncode == 0, result.stderr
    grid = np.asarray(Image.open(tmp_path / "g.png"))
    assert grid.shape[0] > 128 and ((grid == [255, 30, 30]).all(-1)).any()


def test_unknown_dataset_and_option():
    with pytest.raises(Exception, match="unknown dataset 'synthetic-face'; did you mean 'synthetic-faces'"):
        open_dataset("synthetic-face", 64)
    with pytest.raises(DataError, match="unknown option 'stlye'; did you mean 'style'"):
        open_dataset("synthetic-faces:stlye=cartoon", 64)


def test_expression_layout_with_a_landmark_file(tmp_path):
    from gankit_core.data.synthetic import EXPRESSIONS, render_faces

    rows = ["file," + ",".join(f"{a}{i}" for i in range(68) for a in "xy")]
    for subject in (3, 4):
        for expression in ("neutral", "happiness", "anger"):
            images, points = render_faces(0, [subject], [EXPRESSIONS.index(expression)], [1.0], 64)
            path = tmp_path / f"subject{subject}" / f"{expression}.png"
            path.parent.mkdir(exist_ok=True)
            Image.fromarray(images[0]).save(path)
            rows.append(f"subject{subject}/{expression}.png," + ",".join(f"{v:.3f}" for v in points[0].reshape(-1)))
    (tmp_path / "landmarks.csv").write_text("\n".join(rows) + "\n")
    dataset = open_dataset(f"expression:{tmp_path}", 32)  # half size: points scale by 0.5
    assert dataset.fields["image"].shape == (6, 3, 32, 32)
    assert sorted(set(dataset.fields["identity"].tolist())) == [0, 1]
    assert sorted(set(dataset.fields["expression"].tolist())) == [0, 1, 6]
    first = render_faces(0, [3], [EXPRESSIONS.index("anger")], [1.0], 64)[1][0] / 2
    index = [i for i in range(6) if dataset.fields["identity"][i] == 0 and dataset.fields["expression"][i] == 6][0]
    assert np.allclose(dataset.fields["landmarks"][index].numpy(), first, atol=0.01)


def test_a_photo_command_without_a_detector_names_the_plugin(tmp_path):
    import os

    Image.new("RGB", (64, 64)).save(tmp_path / "photo.png")
    env = {**os.environ, "GANKIT_LOAD_PLUGINS": "dcgan"}  # every plugin but the detector
    result = subprocess.run([sys.executable, "-m", "gankit_core", "landmarks", str(tmp_path / "photo.png")],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 1 and "no landmark detector is installed" in result.stderr
    assert "gankit-landmarks-dlib" in result.stderr and "Traceback" not in result.stderr
