"""ugatit's cpu settings (docs/models/ugatit.md, "On this CPU"): the documented run (slow) reaches its documented
figures against the identity and the classical tools."""

from __future__ import annotations

import pytest

from gankit_core import api

CPU_STEPS = api.get_entry("model", "ugatit").load().presets["cpu"].settings["steps"]  # the documented run


@pytest.mark.slow
def test_the_documented_cpu_run_reaches_its_documented_figures(tmp_path):
    """docs/models/ugatit.md's table for the cpu settings, on 128 held-out faces per direction (measured: a2b KID
    0.221, SSIM 0.577, PSNR 19.52; b2a KID 0.163, SSIM 0.557, PSNR 21.77): ahead of the identity everywhere, of the
    cartoon filter on PSNR; behind the classical tools on KID and the filter on SSIM, as documented."""
    result = api.train(api.create_model("ugatit", preset="cpu"), steps=CPU_STEPS, out=tmp_path, progress=False)
    scores = api.evaluate(result.checkpoint, ["translation"], count=128)
    for direction in ("a2b", "b2a"):
        assert scores[f"{direction}/kid"] < scores[f"{direction}/identity_kid"], direction
        assert scores[f"{direction}/ssim"] > scores[f"{direction}/identity_ssim"] + 0.15, direction
        assert scores[f"{direction}/psnr"] > scores[f"{direction}/identity_psnr"] + 3, direction
    assert scores["a2b/psnr"] > scores["a2b/cartoon_filter_psnr"]
    assert scores["b2a/ssim"] > scores["b2a/smooth_noise_ssim"] and scores["b2a/psnr"] > scores["b2a/smooth_noise_psnr"]
    assert scores["a2b/ssim"] > 0.577 - 0.03 and scores["b2a/ssim"] > 0.557 - 0.03
