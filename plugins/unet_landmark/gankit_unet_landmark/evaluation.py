"""Evaluation against ground truth (paper 003, Tables 3-4): SSIM and PSNR of the transferred faces against the
true images of the target identities wearing the source's expressions, on identities held out from training.

Reported beside the model: the target unchanged (what a transfer that does nothing scores), and, with
``gankit eval --baseline RUN``, another run of the model (the U-Net trained without the fusion module,
``fusion = false``). Because an expression moves only the eyes, brows and mouth, a whole-image figure is
dominated by pixels that do not change (the unchanged target scores high on it); ``psnr_features`` is the PSNR
over the eye and mouth boxes of the target and the truth (their union), where the expression lives. The fusion
module's own accuracy is the L1 distance of its landmark image to the true one,
beside that of the target's unchanged landmark image.
"""

from __future__ import annotations

import numpy as np
import torch

from gankit_core.data import parse_spec
from gankit_core.errors import DataError

CHUNK = 16


def feature_mask(target_points: torch.Tensor, truth_points: torch.Tensor, size: int) -> torch.Tensor:
    """N x 1 x size x size: 1 inside the eye or mouth box of the target or of the truth."""
    from gankit_core.data.landmarks import box_masks, region_boxes

    masks = [box_masks(torch.from_numpy(boxes[key]), size)
             for boxes in (region_boxes(p.cpu().numpy(), size) for p in (target_points, truth_points))
             for key in ("eye_box", "mouth_box")]
    return torch.stack(masks).amax(0).to(target_points.device)


TRIPLE_FIELDS = ("image", "target", "truth", "landmarks", "target_landmarks", "truth_landmarks")


def held_out_spec(spec: str, count: int) -> str:
    """The test split of a triples spec: ``count`` held-out synthetic triples, or a folder's test subjects."""
    from gankit_core.data import parse_options
    from gankit_core.data.expression_triples import SYNTHETIC_OPTIONS

    name, argument = parse_spec(spec)
    if name == "synthetic-expression":
        options = {**parse_options(argument, SYNTHETIC_OPTIONS, name), "n": count, "split": "test"}
        return f"{name}:" + ",".join(f"{key}={str(value).lower()}" for key, value in options.items())
    if name == "expression-triples" and argument and "split=" not in argument:
        return f"{spec},split=test"
    return spec


@torch.no_grad()
def evaluate_transfer(loaded, count: int, seed: int = 0, data: str | None = None, baseline=None) -> dict[str, float]:
    from gankit_core.data import open_dataset
    from gankit_core.images import unit_batch
    from gankit_core.metrics.image_quality import masked_psnr, psnr, ssim

    model = loaded.model
    size = model.config.image_size
    spec = held_out_spec(data or model.config.data, count)
    dataset = open_dataset(spec, size, seed=seed)
    missing = [f for f in TRIPLE_FIELDS if f not in dataset.fields]
    if missing:
        raise DataError(f"the expression evaluation needs triples with true results (synthetic-expression or "
                        f"expression-triples:PATH), and '{spec}' has no {', '.join(missing)}")
    methods = {"expression": loaded, **({"baseline": baseline} if baseline is not None else {})}
    scores: dict[str, list[float]] = {}

    def add(key: str, values: torch.Tensor) -> None:
        scores.setdefault(key, []).extend(values.double().cpu().tolist())

    for start in range(0, min(count, len(dataset)), CHUNK):
        rows = torch.arange(start, min(start + CHUNK, count, len(dataset)))
        raw = dataset.take(rows)
        batch = {k: v.float().to(loaded.device) for k, v in unit_batch(raw).items()}
        target, truth = batch["target"], batch["truth"]
        features = feature_mask(batch["target_landmarks"], batch["truth_landmarks"], size)
        for name, run in methods.items():
            output, guide = run.model.transfer(run.nets, batch["landmarks"], target, batch["target_landmarks"])
            output = output.float().clamp(-1, 1)
            label = name if name == "expression" else ("no-fusion" if not run.model.config.fusion else "baseline")
            add(f"{label}/ssim", ssim(output, truth, (-1, 1)))
            add(f"{label}/psnr", psnr(output, truth, (-1, 1)))
            add(f"{label}/psnr_features", masked_psnr(output, truth, features, (-1, 1)))
            if name == "expression" and run.model.config.fusion:
                truth_marks = run.model.draw(batch["truth_landmarks"], size)
                target_marks = run.model.draw(batch["target_landmarks"], size)
                add("fusion/landmark_l1", (guide.float() - truth_marks).abs().flatten(1).mean(1))
                source_marks = run.model.draw(batch["landmarks"], size)
                add("unchanged/landmark_l1", (target_marks - truth_marks).abs().flatten(1).mean(1))
                add("source/landmark_l1", (source_marks - truth_marks).abs().flatten(1).mean(1))
        add("unchanged/ssim", ssim(target, truth, (-1, 1)))
        add("unchanged/psnr", psnr(target, truth, (-1, 1)))
        add("unchanged/psnr_features", masked_psnr(target, truth, features, (-1, 1)))
    return {key: float(np.mean(values)) for key, values in scores.items()}
