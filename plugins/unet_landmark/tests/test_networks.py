"""Paper 003's networks row by row: Table 1 (the modified U-Net) and Table 2 (the spectral-norm PatchGAN)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from gankit_unet_landmark.networks import LandmarkFusion, PatchGANSN, UNet

from gankit_core.summary import layer_table

# (H, W, C) as the paper prints them.
TABLE_1 = [
    (128, 128, 64), (64, 64, 128), (32, 32, 256), (16, 16, 512), (8, 8, 512), (4, 4, 512), (2, 2, 512),  # down
    (2, 2, 512),  # bottleneck
    (4, 4, 512), (8, 8, 512), (16, 16, 512), (32, 32, 256), (64, 64, 128), (128, 128, 64),  # up
    (256, 256, 3),  # output
]
TABLE_2 = [(128, 128, 64), (64, 64, 128), (32, 32, 256), (31, 31, 512), (30, 30, 1)]


def hwc(rows):
    return [(row["output"][1], row["output"][2], row["output"][0]) for row in rows]


@pytest.fixture(scope="module")
def expression_layers():
    result = subprocess.run([sys.executable, "-m", "gankit_core", "info", "expression", "--layers", "--json"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)  # the model, and the dataset of paired expression folders
    (model,) = [entry for entry in found if entry["kind"] == "model"]
    return model["networks"]


def test_gankit_info_prints_table_1_row_by_row(expression_layers):
    generator = expression_layers["generator"]
    assert generator["input"] == [[4, 256, 256]]  # row 0: (256, 256, 4)
    rows = generator["layers"]
    assert len(rows) == 15
    assert sum(row["params"] for row in rows) == generator["params"]  # every weight sits in one row
    for number, (row, expected) in enumerate(zip(hwc(rows), TABLE_1, strict=True), start=1):
        assert row == expected, f"Table 1 row {number}: {row} != {expected}"
    kinds = [row["type"] for row in rows]
    assert kinds[0] == "Conv2d" and all(k == "LeakyReLU, Conv2d, BatchNorm2d" for k in kinds[1:7])
    assert kinds[7] == "LeakyReLU, Conv2d, BatchNorm2d, ReLU"
    assert all(k == "ReLU, ConvTranspose2d, BatchNorm2d" for k in kinds[8:14])
    assert kinds[14] == "ReLU, ConvTranspose2d, Tanh"


def test_gankit_info_prints_table_2_row_by_row(expression_layers):
    discriminator = expression_layers["discriminator"]
    assert discriminator["input"] == [[3, 256, 256], [3, 256, 256]]  # (P_t, I): the conditional pair of Eq. 7
    rows = discriminator["layers"]
    assert sum(row["params"] for row in rows) == discriminator["params"]
    for number, (row, expected) in enumerate(zip(hwc(rows), TABLE_2, strict=True), start=1):
        assert row == expected, f"Table 2 row {number}: {row} != {expected}"
    assert [row["type"] for row in rows] == ["Conv2d, LeakyReLU", "Conv2d, ReLU", "Conv2d, ReLU", "Conv2d, LeakyReLU",
                                            "Conv2d"]


def test_spectral_norm_replaces_batch_norm_and_the_output_is_logits():
    d = PatchGANSN()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    normalised = [name for name, m in d.named_modules() if hasattr(m, "parametrizations")]
    assert normalised == ["rows.1.0", "rows.2.0", "rows.3.0"]  # where pix2pix has batch norm
    d.eval()
    for name in normalised:  # spectral norm holds each of those weights' largest singular value near 1
        weight = d.get_submodule(name).weight.detach().flatten(1)
        assert torch.linalg.matrix_norm(weight, ord=2) == pytest.approx(1.0, abs=0.15)
    logits = d(torch.randn(2, 3, 256, 256) * 10, torch.randn(2, 3, 256, 256) * 10)
    assert logits.shape == (2, 1, 30, 30) and (logits.min() < 0 or logits.max() > 1)  # not squashed by a Sigmoid


def test_unet_skip_connections_carry_detail_past_the_bottleneck():
    net = UNet(image_size=64, width=8)
    rows = hwc(layer_table(net, net.example_inputs()))
    assert rows[4] == (2, 2, 64) and rows[-1] == (64, 64, 3)  # depth follows the size: 2x2 at the bottom
    assert net.ups[0][1].in_channels == 2 * 64  # bottleneck output + the down row of the same size
    net.eval()
    x = torch.randn(1, 4, 64, 64)
    x.requires_grad_(True)
    net(x)[0, :, 10, 10].sum().backward()
    # The first down row feeds the output row directly: a pixel's gradient is concentrated near it.
    near = x.grad[0, :, 8:13, 8:13].abs().sum()
    assert near > 0.2 * x.grad.abs().sum()


def test_unet_refuses_sizes_it_cannot_halve_to_2x2():
    from gankit_core.errors import ConfigError

    with pytest.raises(ConfigError, match="power-of-two"):
        UNet(image_size=96)


def test_fusion_adds_a_decoded_deviation_to_the_target_landmarks():
    fusion = LandmarkFusion(image_size=64, width=8).eval()
    target, source = torch.rand(2, 1, 64, 64) * 2 - 1, torch.rand(2, 1, 64, 64) * 2 - 1
    fused = fusion(target, source)
    deviation = fused - target
    assert fused.shape == (2, 1, 64, 64) and deviation.abs().max() <= 2
    assert not torch.allclose(fusion(target, -source), fused)  # the expression input matters
    with torch.no_grad():
        fusion.output[1].weight.zero_()
        fusion.output[1].bias.zero_()
    assert torch.equal(fusion(target, source), target)  # a zero deviation leaves L_t as it is (Eq. 1)


def test_a_residual_unet_starts_as_the_target_unchanged():
    from gankit_core.weights import init_weights

    plain, residual = UNet(image_size=64, width=8), UNet(image_size=64, width=8, residual=True, identity_start=True)
    residual.apply(init_weights)  # the model's initialisation keeps the identity start
    assert hwc(layer_table(residual, residual.example_inputs())) == hwc(layer_table(plain, plain.example_inputs()))
    x = torch.rand(2, 4, 64, 64) * 2 - 1
    assert torch.equal(residual(x), x[:, :3])  # the target image, exactly, whatever the landmark channel says
    residual.train()
    with torch.no_grad():
        residual.output[1].weight.normal_(0, 0.02)
    moved = residual(x)
    assert not torch.equal(moved, x[:, :3]) and moved.min() >= -1 and moved.max() <= 1  # a correction, clamped
    from gankit_core.errors import ConfigError

    with pytest.raises(ConfigError, match="identity_start needs residual"):
        UNet(image_size=64, width=8, identity_start=True)


def test_the_fusion_module_can_start_at_the_target_landmarks():
    from gankit_core.weights import init_weights

    fusion = LandmarkFusion(image_size=64, width=8, identity_start=True)
    fusion.apply(init_weights)
    target, source = torch.rand(2, 1, 64, 64) * 2 - 1, torch.rand(2, 1, 64, 64) * 2 - 1
    assert torch.equal(fusion(target, source), target)  # J_gen = L_t: a zero deviation (Eq. 1)
