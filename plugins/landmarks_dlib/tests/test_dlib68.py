"""The dlib detector on a real photo: scikit-image's astronaut (public domain, Eileen Collins)."""

import numpy as np
import pytest

from gankit_core.data.landmarks import EYES, MOUTH, NOSE, region_boxes
from gankit_core.landmarking import detect_faces

skimage_data = pytest.importorskip("skimage.data")


def test_detects_the_astronaut_with_68_ordered_points():
    image = skimage_data.astronaut()  # 512 x 512, face near (x 180, y 110)
    (face,) = detect_faces(image)
    points = face.points
    assert points.shape == (68, 2)
    x0, y0, x1, y1 = face.box
    assert 120 < x0 < 200 and 40 < y0 < 110 and x1 - x0 > 60  # around her face, not elsewhere
    inside = (points[:, 0] > x0 - 20) & (points[:, 0] < x1 + 20) & (points[:, 1] > y0 - 40) & (points[:, 1] < y1 + 30)
    assert inside.all()
    left_eye, right_eye = points[36:42].mean(0), points[42:48].mean(0)
    assert left_eye[0] < right_eye[0]  # iBUG order: 36-41 is the eye on the image's left
    nose_tip, mouth = points[30], points[MOUTH].mean(0)
    assert max(left_eye[1], right_eye[1]) < nose_tip[1] < mouth[1]  # eyes above the nose above the mouth
    assert points[8, 1] > mouth[1]  # the chin is below the mouth
    boxes = region_boxes(points[None], 512)
    ex0, ey0, ex1, ey1 = boxes["eye_box"][0]
    assert ex1 - ex0 == ey1 - ey0  # square, as paper 000 exchanges
    assert (points[EYES, 0] >= ex0).all() and (points[EYES, 0] <= ex1).all()
    assert points[NOSE].shape == (9, 2)


def test_no_face_is_a_clear_error():
    from gankit_core.errors import DataError

    blank = np.full((200, 200, 3), 127, dtype=np.uint8)
    with pytest.raises(DataError, match="no face found in blank.png"):
        detect_faces(blank, where="blank.png")


def test_photo_folder_with_landmarks_gives_region_boxes(tmp_path):
    from PIL import Image

    from gankit_core.data import open_dataset

    Image.fromarray(skimage_data.astronaut()).save(tmp_path / "astronaut.png")
    Image.new("RGB", (100, 100), (90, 90, 90)).save(tmp_path / "wall.png")  # no face: skipped
    dataset = open_dataset(f"folder:{tmp_path},landmarks=true", 128)
    assert dataset.fields["image"].shape == (1, 3, 128, 128)
    points = dataset.fields["landmarks"][0].numpy()
    assert points.shape == (68, 2) and (points >= 0).all() and (points < 128).all()
    eye = dataset.fields["eye_box"][0].tolist()
    assert eye[2] - eye[0] == eye[3] - eye[1] and eye[0] <= points[36:48, 0].min()


def test_all_faces_leaves_out_detections_below_the_score_threshold():
    from gankit_core.landmarking import get_detector

    image = skimage_data.astronaut()
    raw = get_detector().detect(image)  # dlib keeps the suit's round patch too, at a low score
    assert len(raw) == 2 and raw[1].score < get_detector().score_threshold <= raw[0].score
    faces = detect_faces(image, all_faces=True)
    assert [face.box for face in faces] == [raw[0].box]
