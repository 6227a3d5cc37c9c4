"""ugatit's cpu settings (docs/models/ugatit.md, "On this CPU"): 100 steps put both directions ahead of the
classical tools the generators start as, and the documented run (slow) reaches its documented figures against the
identity and the classical tools."""

from __future__ import annotations

import pytest

from gankit_core.testing import check_documented_translation_run, check_short_cpu_run_beats_classical


def test_100_cpu_steps_put_both_directions_ahead_of_the_classical_tools(tmp_path):
    """The generators start as OpenCV's cartoon filter and the closing + blur + grain; 100 steps (about 110 s here)
    move them ahead of those tools on 64 held-out faces. The check trains with round 3's ``base_weight=10``: the
    preset's 40 holds each correction so near its tool for the first hundred steps that the output is still the
    tool's (measured at 100 steps: photo -> cartoon SSIM 0.6954 against the filter's 0.6953, cartoon -> photo
    0.4991 against 0.5059), which says nothing of whether the networks learn. With 10: photo -> cartoon SSIM
    0.7156 / PSNR 20.20 dB against 0.6953 / 19.20, cartoon -> photo 0.5268 / 21.06 against 0.5059 / 20.05; the
    margins asked are about half those measured."""
    check_short_cpu_run_beats_classical("ugatit", tmp_path, steps=100, ssim_margin=0.01,
                                        psnr_margins={"a2b": 0.5, "b2a": 0.5}, base_weight=10.0)


@pytest.mark.slow
def test_the_documented_cpu_run_reaches_its_documented_figures(tmp_path):
    """docs/models/ugatit.md's table for the cpu settings, on 128 held-out faces per direction (measured: a2b KID
    0.123 against the filter's 0.135, SSIM 0.735, PSNR 20.13; b2a KID 0.126 against 0.128, SSIM 0.553, PSNR
    21.20): ahead of the identity everywhere and of the classical tools on SSIM and PSNR, and on photo -> cartoon
    KID (cartoon -> photo's lead, 0.002, is inside KID's spread over held-out sets, so it is not asked)."""
    check_documented_translation_run("ugatit", tmp_path, a2b_ssim=0.735, b2a_ssim=0.553, kid_ahead=("a2b",))
