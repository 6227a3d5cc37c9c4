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
    assert out.shape == (1, 3, 8, 8)
    hot, cold = out[0, :, 0, 0], out[0, :, 7, 7]
    assert hot[0] > hot[2] and cold[2] > cold[0]  # red over the hot corner, blue over the cold one
    # Half grey, half the jet colour: the hottest point is dark red (0.5, 0, 0), the coldest dark blue (0, 0, 0.5),
    # each mapped to [-1, 1] and averaged with the grey 0.
    assert torch.allclose(hot, torch.tensor([0.0, -0.5, -0.5]), atol=1e-6)
    assert torch.allclose(cold, torch.tensor([-0.5, -0.5, 0.0]), atol=1e-6)
    assert torch.allclose(overlay_heatmap(images, heatmap * 100), out)  # each map is stretched on its own


def test_translate_refuses_a_model_that_does_not_translate(tmp_path):
    result = check_model_contract("dcgan", tmp_path, steps=1, image_size=32, g_features=8, d_features=8)
    (tmp_path / "in.png").write_bytes(b"")
    translated = subprocess.run([sys.executable, "-m", "gankit_core", "translate", str(tmp_path), "--checkpoint",
                                 str(result.checkpoint)], capture_output=True, text=True)
    assert translated.returncode == 1 and "Traceback" not in translated.stderr
    assert "'dcgan' checkpoint, which does not translate" in translated.stderr
