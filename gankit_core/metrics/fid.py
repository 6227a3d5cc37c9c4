"""Fréchet Inception Distance (Heusel et al. 2017; paper 002 Eq. 3) and Kernel Inception Distance
(Bińkowski et al. 2018) on feature sets, and the image-set front ends with cached reference statistics."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gankit_core.errors import GankitError


@dataclass
class FeatureStats:
    mean: np.ndarray  # D
    covariance: np.ndarray  # D x D
    count: int


def feature_stats(features: Tensor | np.ndarray) -> FeatureStats:
    features = np.asarray(features, dtype=np.float64)
    if features.shape[0] < 2:
        raise GankitError(f"FID needs at least 2 images per set for a covariance, got {features.shape[0]}")
    return FeatureStats(features.mean(0), np.cov(features, rowvar=False), features.shape[0])


def frechet_distance(a: FeatureStats, b: FeatureStats) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    The trace of the matrix square root is the sum of the square roots of the eigenvalues of
    S_a S_b, which are real and non-negative for covariance matrices (up to rounding)."""
    difference = a.mean - b.mean
    eigenvalues = np.linalg.eigvals(a.covariance @ b.covariance)
    trace_sqrt = np.sqrt(np.clip(eigenvalues.real, 0, None)).sum()
    value = difference @ difference + np.trace(a.covariance) + np.trace(b.covariance) - 2 * trace_sqrt
    return float(max(value, 0.0))


def frechet_distance_of_features(a: Tensor | np.ndarray, b: Tensor | np.ndarray) -> float:
    """``frechet_distance(feature_stats(a), feature_stats(b))``, in the sample space when the sets are smaller than
    the feature dimension: with centred, scaled features A and B (S_a = A^T A, S_b = B^T B), the non-zero
    eigenvalues of S_a S_b are those of (A B^T)(A B^T)^T, so Tr (S_a S_b)^(1/2) is the sum of the singular values
    of the n_a x n_b matrix A B^T. The same value, without a 2048 x 2048 eigen-decomposition (a minute on 2 cores)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if max(a.shape[0], b.shape[0]) >= a.shape[1]:
        return frechet_distance(feature_stats(a), feature_stats(b))
    if min(a.shape[0], b.shape[0]) < 2:
        raise GankitError(f"FID needs at least 2 images per set for a covariance, got {min(a.shape[0], b.shape[0])}")
    scaled_a = (a - a.mean(0)) / np.sqrt(a.shape[0] - 1)
    scaled_b = (b - b.mean(0)) / np.sqrt(b.shape[0] - 1)
    difference = a.mean(0) - b.mean(0)
    trace_sqrt = np.linalg.svd(scaled_a @ scaled_b.T, compute_uv=False).sum()
    value = difference @ difference + np.square(scaled_a).sum() + np.square(scaled_b).sum() - 2 * trace_sqrt
    return float(max(value, 0.0))


def kernel_inception_distance(a: Tensor | np.ndarray, b: Tensor | np.ndarray, subsets: int = 10,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float | None]:
    """Unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over
    random subsets; returns (mean, standard deviation over subsets). When both sets are no larger than
    ``subset_size`` every subset is the whole of both sets, so one is computed and the spread is None
    (a standard deviation of identical values would print as a meaningless 1e-16)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    size = min(subset_size, a.shape[0], b.shape[0])
    if size < 2:
        raise GankitError(f"KID needs at least 2 images per set, got {min(a.shape[0], b.shape[0])}")
    whole_sets = size == a.shape[0] == b.shape[0]
    dimension = a.shape[1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(1 if whole_sets else subsets):
        x = a[rng.choice(a.shape[0], size, replace=False)]
        y = b[rng.choice(b.shape[0], size, replace=False)]
        k_xx = (x @ x.T / dimension + 1) ** 3
        k_yy = (y @ y.T / dimension + 1) ** 3
        k_xy = (x @ y.T / dimension + 1) ** 3
        off_diagonal = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (size * (size - 1))
        values.append(off_diagonal - 2 * k_xy.mean())
    return float(np.mean(values)), (None if whole_sets else float(np.std(values)))


def load_images(source: str, image_size: int | None = None, limit: int | None = None, seed: int = 0) -> Tensor:
    """uint8 images from a folder path or a dataset spec (at ``image_size``, default the images' own for folders)."""
    from gankit_core.data import open_dataset

    path = Path(source)
    if path.is_dir() and image_size is None:
        image_size = _first_image_side(path)
    dataset = open_dataset(source if not path.exists() else f"folder:{path}", image_size or 64, seed=seed)
    count = len(dataset) if limit is None else min(limit, len(dataset))
    return dataset.fields["image"][:count]


def _first_image_side(folder: Path) -> int:
    """The shorter side of the folder's first readable image (unreadable ones are skipped, as loading does)."""
    from PIL import Image, UnidentifiedImageError

    from gankit_core.data.folders import list_images

    paths = list_images(folder)
    for path in paths:
        try:
            with Image.open(path) as image:
                return min(image.size)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            continue
    raise GankitError(f"none of the {len(paths)} image file(s) in {folder} can be read")


def cached_stats(key: str, images_fn, extractor) -> FeatureStats:
    """Statistics of a reference set, cached (safetensors) by set key and extractor."""
    from safetensors.numpy import load_file, save

    from gankit_core.data.synthetic_dataset import cache_dir
    from gankit_core.engine.checkpoint import write_atomic

    name = hashlib.sha1(f"{key}|{extractor.fingerprint}".encode()).hexdigest()[:16]
    path = cache_dir() / f"fid-stats-{name}.safetensors"
    if path.is_file():
        try:
            stored = load_file(str(path))
            return FeatureStats(stored["mean"], stored["covariance"], int(stored["count"][0]))
        except Exception:
            path.unlink(missing_ok=True)
    stats = feature_stats(extractor(images_fn()))
    with contextlib.suppress(OSError):  # a read-only cache folder only costs recomputing next time
        write_atomic(path, save({"mean": stats.mean, "covariance": stats.covariance,
                                 "count": np.array([stats.count])}))
    return stats


def fid_between(images_a: Tensor, images_b: Tensor, extractor) -> dict[str, float | None]:
    """FID and KID between two uint8 image sets."""
    features_a, features_b = extractor(images_a), extractor(images_b)
    fid = frechet_distance(feature_stats(features_a), feature_stats(features_b))
    kid, kid_std = kernel_inception_distance(features_a, features_b)
    return {"fid": fid, "kid": kid, "kid_std": kid_std}


def inception_score(images: Tensor, classifier, splits: int = 10) -> tuple[float, float]:
    """Inception Score (Salimans et al.; paper 002 Eq. 2): exp(E KL(p(y|x) || p(y))), mean and std over splits.

    ``classifier`` maps uint8 images to class logits. gankit has no offline classifier with logits
    (the FID network gives features only), so IS is computed only when one is supplied."""
    if classifier is None:
        raise GankitError("Inception Score needs a classifier with class logits, and none ships offline: "
                          "pass one (a TorchScript file via --classifier), or use FID/KID")
    with torch.no_grad():
        probabilities = torch.softmax(classifier(images).double(), dim=1).numpy()
    scores = []
    for part in np.array_split(probabilities, splits):
        marginal = part.mean(0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(marginal + 1e-12))).sum(1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))
