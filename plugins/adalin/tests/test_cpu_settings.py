"""ugatit's cpu settings (docs/models/ugatit.md, "On this CPU"): 40 steps already put both directions ahead of the
classical tools the generators start as, and the documented run (slow) reaches its documented figures against the
identity and the classical tools."""

from __future__ import annotations

import pytest

from gankit_core.testing import check_documented_translation_run, check_short_cpu_run_beats_classical


def test_100_cpu_steps_put_both_directions_ahead_of_the_classical_tools(tmp_path):
    """The generators start as OpenCV's cartoon filter and the closing + blur + grain; 100 steps (84 s here) moved
    them ahead on 64 held-out faces: photo -> cartoon SSIM 0.7052 / PSNR 19.78 dB against the filter's
    0.6953 / 19.20, cartoon -> photo 0.5130 / 20.97 against 0.5059 / 20.05; the margins asked are about half those
    measured. 40 steps no longer do: their corrections are still mostly under the cpu settings' 16-level threshold
    (residual_shrink), so the translations are still nearly the tools' (SSIM 0.6955 against 0.6953)."""
    check_short_cpu_run_beats_classical("ugatit", tmp_path, steps=100, ssim_margin=0.003,
                                        psnr_margins={"a2b": 0.3, "b2a": 0.4})


@pytest.mark.slow
def test_the_documented_cpu_run_reaches_its_documented_figures(tmp_path):
    """docs/models/ugatit.md's table for the cpu settings, on 128 held-out faces per direction (measured: a2b KID
    0.146, SSIM 0.745, PSNR 20.81; b2a KID 0.138, SSIM 0.589, PSNR 22.27): ahead of the identity everywhere and of
    the classical tools on SSIM and PSNR; behind them on KID, as documented."""
    check_documented_translation_run("ugatit", tmp_path, a2b_ssim=0.745, b2a_ssim=0.589)
