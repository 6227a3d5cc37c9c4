"""How much pixel-scale noise costs a translation's KID, and what filtering a trained generator's correction gives
(docs/models/translation-runs.md, round 3).

    python plugins/cyclegan/scripts/correction_noise.py                       # the cartoon filter, noised and blurred
    python plugins/cyclegan/scripts/correction_noise.py --checkpoint RUN      # RUN's correction, thresholded and blurred

On the held-out faces and the Inception features that ``gankit eval`` uses: KID against 128 held-out faces of the
target domain, SSIM and PSNR against each source face's true twin. With ``--checkpoint`` (a ugatit or cyclegan run
on residual generators), each direction's correction r = G(x) - base(x) is filtered after the fact: soft and hard
thresholds of T grey levels, and a 3 x 3 box blur. Takes a few minutes on a 2-core CPU: run it alone.
"""

from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F

from gankit_core import api
from gankit_core.classical import Stylize
from gankit_core.data import open_dataset
from gankit_core.data.synthetic_dataset import translation_twins
from gankit_core.errors import GankitError
from gankit_core.images import GREY_LEVEL, to_uint8, to_unit
from gankit_core.metrics.fid import kernel_inception_distance
from gankit_core.metrics.image_quality import psnr, ssim
from gankit_core.metrics.inception import InceptionFeatures

COUNT, SIZE = 128, 64


def box_blur(images: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), 3, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="a ugatit or cyclegan run with residual generators")
    args = parser.parse_args()
    loaded = None
    if args.checkpoint is not None:  # before the slow part, so a wrong path fails at once
        try:
            loaded = api.load_checkpoint(args.checkpoint)
        except GankitError as error:
            sys.exit(f"error: {error}")
        if "gen_a2b" not in loaded.nets or not loaded.model.config.residual:
            sys.exit(f"error: {args.checkpoint} is not a ugatit or cyclegan run with residual generators")
    photos, cartoons = (torch.from_numpy(faces) for faces in translation_twins(1, COUNT, SIZE, ("photo", "cartoon")))
    inception = InceptionFeatures()
    held_out = open_dataset(f"synthetic-unpaired:split=test,n={COUNT}", SIZE, seed=0)
    references = {"a2b": inception(held_out.fields["image_b"]), "b2a": inception(held_out.fields["image"])}
    twins = {"a2b": cartoons, "b2a": photos}

    def report(direction: str, name: str, images: torch.Tensor) -> None:
        pixels = to_uint8(images.clamp(-1, 1))
        kid = kernel_inception_distance(inception(pixels), references[direction])[0]
        print(f"{direction} {name:44s} KID {kid:.4f}  SSIM {float(ssim(pixels, twins[direction], (0, 255)).mean()):.4f}"
              f"  PSNR {float(psnr(pixels, twins[direction], (0, 255)).mean()):.2f}", flush=True)

    if loaded is None:
        cartoon = Stylize()(to_unit(photos)).float()
        noise = torch.randn(cartoon.shape, generator=torch.Generator().manual_seed(0))
        report("a2b", "the cartoon filter", cartoon)
        for levels in (2, 5):
            report("a2b", f"the filter + noise of {levels} grey levels", cartoon + levels * GREY_LEVEL * noise)
        report("a2b", "the filter, 3 x 3 box blur", box_blur(cartoon))
        return
    for direction, source in (("a2b", photos), ("b2a", cartoons)):
        generator, image = loaded.nets[f"gen_{direction}"], to_unit(source)
        generator.residual_filter.shrink = 0.0  # the correction as trained
        with torch.no_grad():
            base = generator.base(image).float()
            correction = loaded.model.translate(loaded.nets, image, direction).float() - base
        report(direction, "the base (the classical tool)", base)
        report(direction, f"the model (mean |r| {float(correction.abs().mean() / GREY_LEVEL):.1f} grey levels)",
               base + correction)
        for levels in (4, 8, 16):
            cut = levels * GREY_LEVEL
            report(direction, f"r soft-thresholded by {levels}", base + correction.sign() * (correction.abs() - cut).clamp(min=0))
            report(direction, f"r hard-thresholded at {levels}", base + correction * (correction.abs() > cut))
        report(direction, "r blurred by a 3 x 3 box", base + box_blur(correction))


if __name__ == "__main__":
    main()
