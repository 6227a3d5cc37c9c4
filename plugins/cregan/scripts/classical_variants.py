"""Two classical variants of Poisson mixed on exactly the eval's 128 pairs (gankit eval cregan -n 128, seed 0):
B's area moved onto A's area Lab mean and spread before the blend (what the harmonisation task teaches G), and B
translated so that its box centre lands on A's (alignment), against the truth (plugins/cregan/EXPERIMENTS.md, 7).

    python plugins/cregan/scripts/classical_variants.py
"""
import cv2
import numpy as np
import torch
from gankit_cregan.blends import seamless
from gankit_cregan.exchange import border_band, exchange_masks

from gankit_core.data.landmarks import region_boxes
from gankit_core.data.synthetic import face_params, landmarks, render, swap_region
from gankit_core.data.synthetic_dataset import sample_plan
from gankit_core.images import unit_images
from gankit_core.metrics.image_quality import masked_psnr, psnr, ssim

count, seed, size, style = 128, 0, 64, "photo"
identity, expression, intensity = sample_plan(seed + 1, 2 * count, 1000, "test")
def area_recolour(a, b, mask):
    m = mask.astype(bool)
    la = cv2.cvtColor(a, cv2.COLOR_RGB2LAB).astype(np.float32)
    lb = cv2.cvtColor(b, cv2.COLOR_RGB2LAB).astype(np.float32)
    ma, sa = la[m].mean(0), la[m].std(0) + 1e-3
    mb, sb = lb[m].mean(0), lb[m].std(0) + 1e-3
    moved = (lb - mb) * np.clip(sa / sb, 0.5, 2) + ma
    return cv2.cvtColor(np.clip(moved + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
sums = {}
for start in range(0, count, 32):
    stop = start + 32
    a = face_params(seed, identity[start:stop], expression[start:stop], intensity[start:stop])
    b = face_params(seed, identity[count + start:count + stop], expression[count + start:count + stop], intensity[count + start:count + stop])
    noise = seed * 7_919 + start
    ia, ib = render(a, size, style, noise), render(b, size, style, noise + 1)
    ba, bb = region_boxes(landmarks(a, size), size), region_boxes(landmarks(b, size), size)
    for region, field in (("eyes", "eye_box"), ("mouth", "mouth_box")):
        truth = unit_images(render(swap_region(a, b, region), size, style, noise))
        box_a, box_b = torch.from_numpy(ba[field]), torch.from_numpy(bb[field])
        mask, _ = exchange_masks(box_a, box_b, size)
        m = mask[:, 0].numpy()
        out = {"poisson-mixed": [], "recolour+mixed": [], "aligned+mixed": []}
        for i in range(len(ia)):
            out["poisson-mixed"].append(seamless(ia[i], ib[i], m[i], True))
            out["recolour+mixed"].append(seamless(ia[i], area_recolour(ia[i], ib[i], m[i]), m[i], True))
            d = (ba[field][i, :2] + ba[field][i, 2:]) / 2 - (bb[field][i, :2] + bb[field][i, 2:]) / 2
            shifted = cv2.warpAffine(ib[i], np.float32([[1, 0, d[0]], [0, 1, d[1]]]), (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            out["aligned+mixed"].append(seamless(ia[i], shifted, m[i], True))  # the same area: A's box and B's
        border = border_band(mask.float(), 3)
        for name, images in out.items():
            o = unit_images(np.stack(images))
            for metric, value in (("psnr", psnr(o, truth, (-1, 1))), ("ssim", ssim(o, truth, (-1, 1))),
                                  ("psnr_inside", masked_psnr(o, truth, mask, (-1, 1))), ("psnr_border", masked_psnr(o, truth, border, (-1, 1)))):
                sums.setdefault((region, name, metric), []).extend(value.tolist())
for region in ("eyes", "mouth"):
    for name in ("poisson-mixed", "recolour+mixed", "aligned+mixed"):
        print(f"analysis {region:5s} {name:15s}", " ".join(f"{metric} {np.mean(sums[(region, name, metric)]):.4f}" for metric in ("psnr", "ssim", "psnr_inside", "psnr_border")))
