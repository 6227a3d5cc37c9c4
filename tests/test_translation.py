"""The core's translation pieces: the heatmap overlay and `gankit translate` refusing a model that does not translate."""

from __future__ import annotations

import subprocess
import sys

import torch

from gankit_core.testing import check_model_contract
from gankit_core.translation import overlay_heatmap


def test_heatmap_overlay_is_red_where_attention_is_high_and_blue_where_low():
    images = torch.zeros(1, 3, 8, 8)  # mid grey in [-1, 1]
    heatmap = torch.zeros(1, 1, 2, 2)
    heatmap[0, 0, 0, 0] = 5.0  # hot top-left quarter, any scale
    out = overlay_heatmap(images, heatmap)
    assert out.shape == (1, 3, 8, 8) and out.min() >= -1 and out.max() <= 1
    hot, cold = out[0, :, 0, 0], out[0, :, 7, 7]
    assert hot[0] > hot[2] and cold[2] > cold[0]  # red over the hot corner, blue over the cold one
    assert torch.allclose(overlay_heatmap(images, heatmap * 100), out)  # each map is stretched on its own


def test_translate_refuses_a_model_that_does_not_translate(tmp_path):
    result = check_model_contract("dcgan", tmp_path, steps=1, image_size=32, g_features=8, d_features=8)
    (tmp_path / "in.png").write_bytes(b"")
    translated = subprocess.run([sys.executable, "-m", "gankit_core", "translate", str(tmp_path), "--checkpoint",
                                 str(result.checkpoint)], capture_output=True, text=True)
    assert translated.returncode == 1 and "Traceback" not in translated.stderr
    assert "'dcgan' checkpoint, which does not translate" in translated.stderr
