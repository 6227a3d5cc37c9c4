"""Where an expression run loses to the oracle warp (docs/models/expression.md, "Where the model lost to the oracle";
plugins/unet_landmark/NOTES.md section 7): each method's squared error split by region, and the per-image PSNR that
`gankit eval expression` averages, split by how much the expression changes.

    python plugins/unet_landmark/scripts/error_by_region.py runs/expression-64 256

On the run's held-out triples (the set `gankit eval expression -n COUNT` takes, seed 0) it compares the target
unchanged, the local warps to Phi's and to the true points, the model (the U-Net over the warp to Phi's points),
and two probes: the same U-Net over the warp to the true points, reading J_gen or the true landmark image J_o.
Needs a run trained with ``warp_input`` (the U-Net reads a warped target). One thread, about 10-20 s at 64 px.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from gankit_unet_landmark.evaluation import feature_mask, held_out_spec
from gankit_unet_landmark.warp import feature_masks, local_warp

from gankit_core.data import open_dataset
from gankit_core.images import unit_batch
from gankit_core.inference import load_checkpoint

REGIONS = ("boxes", "outside-boxes", "phi-warp-mask", "outside-both-masks", "truth!=target", "truth==target")
METHODS = ("unchanged", "warp-phi", "warp-true", "model", "model(warp-true in, J_gen)", "model(warp-true in, J_o)")


def main(run: str, count: int) -> None:
    torch.set_num_threads(1)
    loaded = load_checkpoint(run)
    model, nets = loaded.model, loaded.nets
    size = model.config.image_size
    dataset = open_dataset(held_out_spec(model.config.data, count), size, seed=0)
    summed: dict[str, float] = {}  # "method/region" -> summed squared error (mean over channels), "area/region"
    per_image: dict[str, list[float]] = {}  # method -> PSNR of each image
    point_errors = []
    with torch.no_grad():
        for start in range(0, count, 32):
            batch = {k: v.float() for k, v in unit_batch(dataset.take(torch.arange(start, min(start + 32, count)))).items()}
            target, truth = batch["target"], batch["truth"]
            target_points, truth_points = batch["target_landmarks"], batch["truth_landmarks"]
            guide = model.guide(nets, batch["landmarks"], target_points, target)
            phi_points = model.fused_points(guide, target_points)
            point_errors.append((phi_points - truth_points).norm(dim=-1)[:, 17:].mean().item())
            warp_phi = local_warp(target, target_points, phi_points)
            warp_true = local_warp(target, target_points, truth_points)
            methods = {
                "unchanged": target, "warp-phi": warp_phi, "warp-true": warp_true,
                "model": nets.generator(torch.cat([warp_phi, guide], 1)),
                "model(warp-true in, J_gen)": nets.generator(torch.cat([warp_true, guide], 1)),
                "model(warp-true in, J_o)": nets.generator(torch.cat([warp_true, model.draw(truth_points, size)], 1)),
            }
            boxes = feature_mask(target_points, truth_points, size)  # the eval's feature area
            phi_mask = (feature_masks(target_points, phi_points, size) > 0).float()
            true_mask = (feature_masks(target_points, truth_points, size) > 0).float()
            changed = ((target - truth).abs().amax(1, keepdim=True) > 1e-6).float()
            regions = {"boxes": boxes, "outside-boxes": 1 - boxes, "phi-warp-mask": phi_mask,
                       "outside-both-masks": (1 - phi_mask) * (1 - true_mask),
                       "truth!=target": changed, "truth==target": 1 - changed}
            for name, output in methods.items():
                error = ((output.clamp(-1, 1) - truth) ** 2).mean(1, keepdim=True)  # N x 1 x H x W
                per_image.setdefault(name, []).extend((10 * torch.log10(4 / error.flatten(1).mean(1))).tolist())
                summed[f"{name}/total"] = summed.get(f"{name}/total", 0) + error.sum().item()
                for region, mask in regions.items():
                    summed[f"{name}/{region}"] = summed.get(f"{name}/{region}", 0) + (error * mask).sum().item()
            for region, mask in regions.items():
                summed[f"area/{region}"] = summed.get(f"area/{region}", 0) + mask.sum().item()

    pixels = count * size * size
    print(f"Phi's points 17-67 off the truth's by {np.mean(point_errors):.3f} px on average")
    print(f"{'method':30s} {'one PSNR':>8s} " + " ".join(f"{region:>20s}" for region in REGIONS))
    for name in METHODS:
        total = summed[f"{name}/total"]
        cells = " ".join(f"{summed[f'{name}/{r}'] / total * 100:8.1f}% {summed[f'{name}/{r}']:9.1f}" for r in REGIONS)
        print(f"{name:30s} {10 * np.log10(4 / (total / pixels)):8.2f} {cells}")
    print("areas (fraction of pixels):", {r: round(summed[f"area/{r}"] / pixels, 4) for r in REGIONS[::2]})
    psnrs = {name: np.array(values) for name, values in per_image.items()}
    print("per-image PSNR means:", {name: round(float(values.mean()), 3) for name, values in psnrs.items()})
    unchanged = psnrs["unchanged"]
    for quartile, part in enumerate(np.array_split(np.argsort(unchanged), 4)):
        print(f"quartile {quartile} of the unchanged PSNR ({unchanged[part].min():.1f}-{unchanged[part].max():.1f} dB):",
              " ".join(f"{name}={values[part].mean():.2f}" for name, values in psnrs.items()))
    ahead = psnrs["model"] - psnrs["warp-true"]
    print(f"model - warp-true per image: mean {ahead.mean():.3f}, median {np.median(ahead):.3f}, "
          f"share ahead {(ahead > 0).mean():.2f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 256)
