"""Metrics against independent references: scikit-image (SSIM/PSNR), scipy (FID's matrix square root),
a direct double loop (KID), paper 002's Table 2 (MEQFI); and each metric's bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import linalg  # scikit-image, a test dependency, brings scipy
from skimage import metrics  # reference SSIM/PSNR: missing must fail, not skip

from gankit_core.errors import GankitError
from gankit_core.metrics.fid import (
    FeatureStats,
    feature_stats,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
)
from gankit_core.metrics.image_quality import psnr, ssim
from gankit_core.metrics.meqfi import score_ratings, write_sheet


def gankit(*args):
    return subprocess.run([sys.executable, "-m", "gankit_core", *args], capture_output=True, text=True)


def image_pair(seed=0, size=48):
    rng = np.random.default_rng(seed)
    base = rng.random((3, size, size))
    ramp = np.linspace(0, 1, size)[None, None, :] * np.ones((3, size, 1))
    a = 0.6 * ramp + 0.4 * base
    b = np.clip(a + rng.normal(0, 0.08, a.shape), 0, 1)
    return a, b


@pytest.mark.parametrize("value_range", [(0.0, 1.0), (-1.0, 1.0)])
def test_ssim_and_psnr_agree_with_scikit_image(value_range):
    low, high = value_range
    for seed in range(3):
        a, b = image_pair(seed)
        a, b = a * (high - low) + low, b * (high - low) + low
        ours_ssim = ssim(torch.tensor(a), torch.tensor(b), value_range).item()
        reference = metrics.structural_similarity(a, b, channel_axis=0, data_range=high - low, gaussian_weights=True,
                                                  sigma=1.5, use_sample_covariance=False)
        assert abs(ours_ssim - reference) < 1e-3
        ours_psnr = psnr(torch.tensor(a), torch.tensor(b), value_range).item()
        assert abs(ours_psnr - metrics.peak_signal_noise_ratio(a, b, data_range=high - low)) < 1e-3


def test_ssim_psnr_bad_input():
    a = torch.rand(1, 3, 32, 32)
    with pytest.raises(GankitError, match="same shape"):
        ssim(a, torch.rand(1, 3, 16, 16), (0, 1))
    with pytest.raises(GankitError, match="value_range"):
        psnr(a, a, (0, 2))
    with pytest.raises(GankitError, match="at least 11x11"):
        ssim(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), (0, 1))
    assert ssim(a, a, (0, 1)).item() == pytest.approx(1.0)
    assert psnr(a, a, (0, 1)).item() == float("inf")


def test_frechet_distance_matches_scipy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 16))
    y = rng.normal(0.3, 1.2, size=(180, 16)) @ rng.normal(size=(16, 16)) * 0.3
    a, b = feature_stats(x), feature_stats(y)
    covmean = linalg.sqrtm(a.covariance @ b.covariance).real
    reference = ((a.mean - b.mean) ** 2).sum() + np.trace(a.covariance + b.covariance - 2 * covmean)
    assert frechet_distance(a, b) == pytest.approx(reference, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_kid_matches_a_direct_computation():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(20, 8)), rng.normal(0.5, 1, size=(20, 8))

    def kernel(u, v):
        return (u @ v / 8 + 1) ** 3

    m = 20
    xx = sum(kernel(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(kernel(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(kernel(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    kid, _ = kernel_inception_distance(x, y, subsets=1, subset_size=20)
    assert kid == pytest.approx(xx + yy - 2 * xy, rel=1e-9)


def test_fid_kid_need_two_images():
    with pytest.raises(GankitError, match="at least 2 images"):
        feature_stats(np.zeros((1, 4)))
    with pytest.raises(GankitError, match="at least 2 images"):
        kernel_inception_distance(np.zeros((1, 4)), np.zeros((5, 4)))
    assert isinstance(feature_stats(np.random.default_rng(0).normal(size=(3, 2))), FeatureStats)


def test_inception_score_needs_a_classifier_and_computes_with_one():
    with pytest.raises(GankitError, match="needs a classifier"):
        inception_score(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), None)
    logits = torch.eye(10) * 50  # ten images, each confidently a different class
    score, _ = inception_score(torch.zeros(10, 3, 8, 8, dtype=torch.uint8), lambda images: logits, splits=1)
    assert score == pytest.approx(10.0, rel=1e-3)  # the maximum for 10 classes


def write_folder(folder, count, colour):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(count)
    for i in range(count):
        noise = rng.integers(0, 60, (32, 32, 3))
        Image.fromarray(np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)).save(folder / f"{i}.png")


def test_fid_command_on_folders_and_its_bad_input(tmp_path):
    write_folder(tmp_path / "a", 4, (200, 40, 40))
    write_folder(tmp_path / "b", 4, (40, 40, 200))
    write_folder(tmp_path / "c", 4, (200, 40, 40))
    result = gankit("fid", str(tmp_path / "a"), str(tmp_path / "b"), "--json")
    assert result.returncode == 0, result.stderr
    far = __import__("json").loads(result.stdout)["fid"]
    near = __import__("json").loads(gankit("fid", str(tmp_path / "a"), str(tmp_path / "c"), "--json").stdout)["fid"]
    assert near < far
    write_folder(tmp_path / "one", 1, (0, 0, 0))
    (tmp_path / "empty").mkdir()
    for other, message in (("one", "at least 2 images"), ("empty", "folder is empty")):
        bad = gankit("fid", str(tmp_path / "a"), str(tmp_path / other))
        assert bad.returncode == 1 and "Traceback" not in bad.stderr and message in bad.stderr


# Paper 002, Table 2: P_i per feature (Nose, Eyes, Eyebrows, Mouth, Ears, Teeth, SkinTone), 0 = ignored,
# and each image's score in %. Row 6 prints 64.23, but its marks give 4.5 / 7 = 64.29: a typo.
TABLE_2 = [
    ((0.6, 0.6, 1.0, 0.4, 0.0, 0.5, 1.0), 68.33),
    ((0.5, 0.6, 1.0, 0.4, 0.5, 0.5, 0.9), 62.86),
    ((0.2, 0.5, 0.8, 0.4, 0.5, 0.2, 1.0), 51.43),
    ((0.4, 0.3, 0.6, 0.4, 0.5, 0.2, 0.8), 45.71),
    ((0.4, 0.5, 1.0, 0.5, 0.5, 0.0, 0.9), 63.33),
    ((0.4, 0.6, 1.0, 0.5, 0.4, 0.6, 1.0), 64.29),
    ((0.4, 0.4, 1.0, 0.4, 0.0, 0.7, 1.0), 65.0),
    ((0.4, 0.5, 0.7, 0.6, 0.4, 0.0, 0.9), 58.33),
]
FEATURES = ("Nose", "Eyes", "Eyebrows", "Mouth", "Ears", "Teeth", "SkinTone")


def two_raters_for(p: float) -> tuple[str, str]:
    """Two raters' marks (scale 5) whose mean probability is p; 'ignore' for p = 0."""
    if p == 0:
        return "ignore", "ignore"
    total = round(p * 10)  # the two marks sum to 10 * p
    return str(total // 2), str(total - total // 2)


def test_meqfi_reproduces_table_2(tmp_path):
    rows = []
    for index, (probabilities, _) in enumerate(TABLE_2):
        marks = [two_raters_for(p) for p in probabilities]
        for rater in (0, 1):
            rows.append({"rater": f"r{rater}", "image": f"img{index}", "scale": "5",
                         **{f: m[rater] for f, m in zip(FEATURES, marks, strict=True)}})
    result = score_ratings(rows)
    for index, (_, expected) in enumerate(TABLE_2):
        assert 100 * result.images[f"img{index}"] == pytest.approx(expected, abs=0.01)
    assert 100 * result.total == pytest.approx(59.91, abs=0.01)  # Table 2's "Totale Score"
    assert result.raters == ["r0", "r1"]


def test_meqfi_cli_sheet_and_score(tmp_path):
    write_folder(tmp_path / "images", 2, (120, 120, 120))
    sheet = gankit("meqfi", "sheet", str(tmp_path / "images"), "-o", str(tmp_path / "sheet.html"),
                   "--features", "Nose,Eyes", "--scale", "5")
    assert sheet.returncode == 0, sheet.stderr
    page = (tmp_path / "sheet.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "exportCsv" in page and 'data-feature="Eyes"' in page
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("rater,image,scale,Nose,Eyes\nann,0.png,5,5,ignore\nann,1.png,5,2,3\n")
    scored = gankit("meqfi", "score", str(ratings))
    assert scored.returncode == 0, scored.stderr
    assert "100.00 %" in scored.stdout and "50.00 %" in scored.stdout and "75.00 %" in scored.stdout
    ratings.write_text("rater,image,scale,Nose\nann,0.png,5,7\n")
    bad = gankit("meqfi", "score", str(ratings))
    assert bad.returncode == 1 and "outside 1..5" in bad.stderr and "Traceback" not in bad.stderr


def test_meqfi_rejects_all_ignored(tmp_path):
    with pytest.raises(GankitError, match="undefined"):
        score_ratings([{"rater": "a", "image": "x", "scale": "5", "Nose": "ignore"}])
    with pytest.raises(GankitError, match="empty"):
        (tmp_path / "none").mkdir()
        write_sheet(tmp_path / "none", tmp_path / "s.html")


def test_fid_in_sample_space_equals_the_covariance_form():
    from gankit_core.metrics.fid import feature_stats, frechet_distance, frechet_distance_of_features

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(12, 40)), rng.normal(0.3, 1.5, size=(9, 40))  # fewer images than dimensions
    expected = frechet_distance(feature_stats(a), feature_stats(b))
    assert frechet_distance_of_features(a, b) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance_of_features(a, a) == pytest.approx(0.0, abs=1e-6)
    many = rng.normal(size=(50, 40))  # more images than dimensions: the covariance form itself
    assert frechet_distance_of_features(many, b) == pytest.approx(frechet_distance(feature_stats(many), feature_stats(b)))
