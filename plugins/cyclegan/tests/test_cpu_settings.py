"""cyclegan's cpu settings (docs/models/cyclegan.md, "On this CPU"): a few dozen steps already move photos toward their
cartoon twins, and the documented run (slow) reaches its documented figures against the identity and the classical
tools."""

from __future__ import annotations

import pytest
import torch

from gankit_core import api
from gankit_core.data.synthetic_dataset import translation_twins
from gankit_core.images import to_uint8, to_unit
from gankit_core.metrics.image_quality import ssim
from gankit_core.testing import check_documented_translation_run


def twin_ssim_gain(checkpoint, count: int = 64) -> float:
    """SSIM of the photo -> cartoon translations of held-out faces against their true cartoon twins, minus the
    unchanged photos' SSIM against the same twins."""
    loaded = api.load_checkpoint(checkpoint)
    photos, cartoons = (torch.from_numpy(faces) for faces in translation_twins(1, count, 64, ("photo", "cartoon")))
    with torch.no_grad():
        translated = to_uint8(loaded.model.translate(loaded.nets, to_unit(photos), "a2b").float())
    return float(ssim(translated, cartoons, (0, 255)).mean() - ssim(photos, cartoons, (0, 255)).mean())


def test_a_few_dozen_cpu_steps_move_photos_toward_their_cartoon_twins(tmp_path):
    """40 steps of the cpu settings (EMA off: 40 steps are too few for a 0.995 average; 256 faces a domain, which
    render in seconds) lift twin SSIM by 0.022 over the unchanged photo (measured on this CPU, 23 s); the margin
    asked is half that."""
    model = api.create_model("cyclegan", preset="cpu", ema_decay=0.0, data="synthetic-unpaired:n=256")
    result = api.train(model, steps=40, out=tmp_path, progress=False)
    assert twin_ssim_gain(result.checkpoint) > 0.01


@pytest.mark.slow
def test_the_documented_cpu_run_reaches_its_documented_figures(tmp_path):
    """docs/models/cyclegan.md's table for the cpu settings, on 128 held-out faces per direction (measured: a2b KID
    0.171, SSIM 0.719, PSNR 21.14; b2a KID 0.155, SSIM 0.624, PSNR 23.50): ahead of the identity everywhere and of the
    classical tools on SSIM and PSNR; behind them on KID, as documented."""
    check_documented_translation_run("cyclegan", tmp_path, a2b_ssim=0.719, b2a_ssim=0.624)
