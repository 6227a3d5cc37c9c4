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


OPEN = 0.075  # a mouth whose inner lips are apart by this much of its width shows its teeth (happiness and wider)
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


def mouth_opening(points: torch.Tensor) -> torch.Tensor:
    """How open each mouth is (N): the gap between the inner lips at their three middle points over the mouth's
    width (0 for closed lips)."""
    gap = (points[:, [67, 66, 65], 1] - points[:, [61, 62, 63], 1]).mean(1)
    return gap / (points[:, 54] - points[:, 48]).norm(dim=-1)


@torch.no_grad()
def evaluate_transfer(loaded, count: int, seed: int = 0, data: str | None = None, baseline=None) -> dict[str, float]:
    from gankit_core.data import open_dataset
    from gankit_core.images import unit_batch
    from gankit_core.metrics.image_quality import masked_psnr, psnr, ssim
    from gankit_unet_landmark.warp import aligned_source_points, local_warp

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
    teeth: list[bool] = []  # per triple: the target shows its teeth and the truth's mouth is closed

    def add(key: str, values: torch.Tensor) -> None:
        scores.setdefault(key, []).extend(values.double().cpu().tolist())

    def score(label: str, output: torch.Tensor, truth: torch.Tensor, features: torch.Tensor) -> None:
        output = output.float().clamp(-1, 1)
        add(f"{label}/ssim", ssim(output, truth, (-1, 1)))
        add(f"{label}/psnr", psnr(output, truth, (-1, 1)))
        add(f"{label}/psnr_features", masked_psnr(output, truth, features, (-1, 1)))

    for start in range(0, min(count, len(dataset)), CHUNK):
        rows = torch.arange(start, min(start + CHUNK, count, len(dataset)))
        raw = dataset.take(rows)
        batch = {k: v.float().to(loaded.device) for k, v in unit_batch(raw).items()}
        target, truth = batch["target"], batch["truth"]
        target_points, truth_points = batch["target_landmarks"], batch["truth_landmarks"]
        features = feature_mask(target_points, truth_points, size)
        teeth += ((mouth_opening(target_points) >= OPEN) & (mouth_opening(truth_points) < OPEN)).tolist()
        for name, run in methods.items():
            output, guide = run.model.transfer(run.nets, batch["landmarks"], target, target_points)
            label = name if name == "expression" else ("no-fusion" if not run.model.config.fusion else "baseline")
            score(label, output, truth, features)
            if name == "expression" and run.model.config.fusion:
                # the classical warp with the same information as the model: to the points Phi's J_gen shows
                score("warp-phi", run.model.warp(guide.float(), target, target_points), truth, features)
                truth_marks = run.model.draw(truth_points, size)
                target_marks = run.model.draw(target_points, size)
                add("fusion/landmark_l1", (guide.float() - truth_marks).abs().flatten(1).mean(1))
                source_marks = run.model.draw(batch["landmarks"], size)
                add("unchanged/landmark_l1", (target_marks - truth_marks).abs().flatten(1).mean(1))
                add("source/landmark_l1", (source_marks - truth_marks).abs().flatten(1).mean(1))
        score("warp-true", local_warp(target, target_points, truth_points), truth, features)  # an oracle
        classical = aligned_source_points(batch["landmarks"], target_points)
        score("warp-classical", local_warp(target, target_points, classical), truth, features)
        score("unchanged", target, truth, features)
    results = {key: float(np.mean(values)) for key, values in scores.items()}
    chosen = np.array(teeth)
    results["teeth/triples"] = float(chosen.sum())
    if chosen.any():  # the triples where a warp cannot do it: teeth to take away
        results |= {f"teeth/{key}": float(np.mean(np.array(values)[chosen])) for key, values in scores.items()
                    if not key.endswith("landmark_l1")}
    return results
