"""What ``gankit eval`` hands a metric and a model's own evaluation: the context of one evaluation.

A registered metric is ``metric(evaluation) -> float | dict``, and a model with ``own_metrics`` computes them in
``Model.evaluate(evaluation)``. An ``Evaluation`` holds the loaded checkpoint, what the user asked for (count,
seed, data, device, Inception file, a baseline run) and lends every metric the same generated and real images and
the same Inception features, computed once however many metrics ask. FID and KID are registered this way by
core, exactly as a plugin registers its own (``register_metrics``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from gankit_core.inference import LoadedModel, generate
from gankit_core.progress import Steps


@dataclass
class Evaluation:
    loaded: LoadedModel  # the checkpoint evaluated: .model, .nets, .step, .device
    count: int  # images per set the user asked for (-n)
    seed: int = 0
    data: str | None = None  # real data spec; None: the model's own
    device: str = "cpu"
    inception: str | None = None  # TorchScript Inception file for features(); None: the default one
    baseline: LoadedModel | None = None  # another run of the same model that its own evaluation reports beside it
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def model(self) -> Any:
        return self.loaded.model

    @property
    def data_spec(self) -> str:
        return self.data or self.model.config.data

    def real(self) -> Tensor:
        """Up to ``count`` real images of the data spec at the model's size (uint8 N x 3 x H x W)."""
        if "real" not in self._cache:
            from gankit_core.metrics.fid import load_images

            self._cache["real"] = load_images(self.data_spec, self.model.config.image_size, limit=self.count,
                                              seed=self.seed)
        return self._cache["real"]

    def generated(self, count: int | None = None) -> Tensor:
        """``count`` (default ``self.count``) images from ``Model.generate`` (uint8), the same for every metric."""
        count = self.count if count is None else count
        key = ("generated", count)
        if key not in self._cache:
            with Steps(f"generating {count} images", count) as progress:
                self._cache[key] = generate(self.loaded, count, seed=self.seed, data=self.data, progress=progress)
        return self._cache[key]

    def features(self, which: str) -> Tensor:
        """Inception pool features of ``"real"`` or ``"generated"`` (as many generated as real images)."""
        if which not in ("real", "generated"):
            raise ValueError(f"features of 'real' or 'generated', not {which!r}")
        if which not in self._cache.setdefault("features", {}):
            images = self.real() if which == "real" else self.generated(len(self.real()))
            extractor = self.extractor()
            chunks = []
            with Steps(f"Inception features of {images.shape[0]} {which} images", images.shape[0]) as progress:
                for start in range(0, images.shape[0], extractor.batch_size):
                    chunks.append(extractor(images[start : start + extractor.batch_size]))
                    progress.advance(chunks[-1].shape[0])
            import torch

            self._cache["features"][which] = torch.cat(chunks)
        return self._cache["features"][which]

    def extractor(self):
        if "extractor" not in self._cache:
            from gankit_core.metrics.inception import InceptionFeatures

            self._cache["extractor"] = InceptionFeatures(self.inception, device=self.device)
        return self._cache["extractor"]


def fid_metric(evaluation: Evaluation) -> dict[str, float]:
    """FID of generated against real images; the real set's statistics are cached by spec, size, count and seed."""
    from gankit_core.metrics.fid import cached_stats, feature_stats, frechet_distance

    real = evaluation.real()
    key = f"{evaluation.data_spec}|{evaluation.model.config.image_size}|{len(real)}|{evaluation.seed}"
    # Cached statistics skip the real features; the extractor's fingerprint is part of the key.
    reference = cached_stats(key, lambda: real, _FeaturesOf(evaluation, "real"))
    return {"fid": frechet_distance(reference, feature_stats(evaluation.features("generated")))}


def kid_metric(evaluation: Evaluation) -> dict[str, float | None]:
    """KID of generated against real images, with its spread over subsets (None when one subset is all there is)."""
    from gankit_core.metrics.fid import kernel_inception_distance

    kid, spread = kernel_inception_distance(evaluation.features("real"), evaluation.features("generated"))
    return {"kid": kid, "kid_std": spread}


class _FeaturesOf:
    """What cached_stats calls as an extractor: the evaluation's features of one set (computed once)."""

    def __init__(self, evaluation: Evaluation, which: str) -> None:
        self.evaluation, self.which = evaluation, which
        self.fingerprint = evaluation.extractor().fingerprint

    def __call__(self, images: Tensor) -> Tensor:
        return self.evaluation.features(self.which)
