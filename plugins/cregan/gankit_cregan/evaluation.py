"""Evaluation against ground truth: held-out synthetic pairs whose true exchange is rendered exactly.

For each region: PSNR and SSIM of G's output against the true exchanged face over the whole image;
PSNR against the truth inside the exchange area, and along its border (a band of ``border_pixels``
on both sides of the area's edge, where a paste leaves its seam), which whole-image figures dilute;
PSNR of the area outside the region against the input (the paper's claim that it "remains
unchanged"); and the same figures, on the same pairs, for the classical blends a practitioner would use
instead (``gankit_cregan.blends``: the plain paste of Eq. 1, a feathered paste, Reinhard colour transfer,
OpenCV's Poisson blending, normal and mixed).
"""

from __future__ import annotations

import numpy as np
import torch

from gankit_core.data import parse_spec
from gankit_core.errors import DataError

CHUNK = 32
BORDER_AT_64 = 3  # the border band's half-width in pixels at 64 px, scaled with the image size


def border_pixels(size: int) -> int:
    return max(1, round(BORDER_AT_64 * size / 64))


def _style(spec: str) -> str:
    name, argument = parse_spec(spec)
    if name != "synthetic-faces":
        raise DataError(f"the exchange evaluation needs synthetic faces (their true exchange is known), not '{spec}'")
    from gankit_core.data import parse_options
    from gankit_core.data.synthetic_dataset import OPTIONS

    return parse_options(argument, OPTIONS, "synthetic-faces").get("style", "photo")


@torch.no_grad()
def evaluate_exchange(model, nets, device, count: int, seed: int = 0, data: str | None = None) -> dict[str, float]:
    from gankit_core.data.landmarks import region_boxes
    from gankit_core.data.synthetic import face_params, landmarks, render, swap_region
    from gankit_core.data.synthetic_dataset import sample_plan
    from gankit_core.images import unit_images
    from gankit_core.metrics.image_quality import masked_psnr, psnr, ssim
    from gankit_cregan.blends import BLENDS, blend
    from gankit_cregan.exchange import border_band
    from gankit_cregan.model import BOX_FIELDS
    from gankit_cregan.seam import seam_factor

    style = _style(data or model.config.data)
    size = model.config.image_size
    identity, expression, intensity = sample_plan(seed + 1, 2 * count, 1000, "test")
    sums: dict[str, list[float]] = {}
    for start in range(0, count, CHUNK):
        stop = min(start + CHUNK, count)
        a = face_params(seed, identity[start:stop], expression[start:stop], intensity[start:stop])
        b = face_params(seed, identity[count + start:count + stop], expression[count + start:count + stop],
                        intensity[count + start:count + stop])
        noise = seed * 7_919 + start
        images_a, images_b = render(a, size, style, noise), render(b, size, style, noise + 1)
        boxes_a, boxes_b = region_boxes(landmarks(a, size), size), region_boxes(landmarks(b, size), size)

        def tensor(images: np.ndarray) -> torch.Tensor:
            return unit_images(images).to(device)

        for region, field in BOX_FIELDS.items():
            truth = tensor(render(swap_region(a, b, region), size, style, noise))  # same noise as A's render
            x_a, x_b = tensor(images_a), tensor(images_b)
            box_a = torch.from_numpy(boxes_a[field]).to(device)
            box_b = torch.from_numpy(boxes_b[field]).to(device)
            generated, _, mask = model.swap(nets, x_a, x_b, box_a, box_b)
            outputs = {"gan": generated.float().clamp(-1, 1)}
            masks = mask[:, 0].cpu().numpy()
            for method in BLENDS:  # the classical blends work on uint8 images, as the tools do
                blended = np.stack([blend(method, *images) for images in zip(images_a, images_b, masks, strict=True)])
                outputs[method] = tensor(blended)
            outside = 1 - mask
            border = border_band(mask.float(), border_pixels(size))
            for name, output in outputs.items():
                values = {
                    "psnr": psnr(output, truth, (-1, 1)),
                    "ssim": ssim(output, truth, (-1, 1)),
                    "psnr_inside": masked_psnr(output, truth, mask, (-1, 1)),
                    "psnr_border": masked_psnr(output, truth, border, (-1, 1)),
                    "psnr_outside": masked_psnr(output, x_a, outside, (-1, 1)),
                    "seam": seam_factor(output, x_a, mask),
                }
                for metric, per_image in values.items():
                    sums.setdefault(f"{region}/{name}_{metric}", []).extend(per_image.cpu().tolist())
            sums.setdefault(f"{region}/truth_seam", []).extend(seam_factor(truth, x_a, mask).cpu().tolist())
    return {key: summary(key, values) for key, values in sums.items()}


def summary(key: str, values: list[float]) -> float:
    """One figure for many pairs: the mean, except the seam (geometric mean of factors) and the PSNR outside the area
    (the PSNR of the pairs' mean squared error: one unchanged face does not make it infinite)."""
    from gankit_cregan.seam import mean_seam_factor

    if key.endswith("_seam"):
        return mean_seam_factor(values)
    if key.endswith("_psnr_outside"):
        errors = [4.0 * 10 ** (-value / 10) for value in values]  # per-pair MSE (images in [-1, 1]); inf -> 0
        mean_error = float(np.mean(errors))
        return float("inf") if mean_error == 0 else float(10 * np.log10(4.0 / mean_error))
    return float(np.mean(values))
