"""The global-local discriminator (Table II) and the local mask (Eq. 4)."""

import json
import subprocess
import sys

import pytest
import torch
from gankit_globallocal.mask import box_distance, local_mask

from gankit_core import api


def test_mask_values_at_and_around_a_box():
    mask = local_mask(torch.tensor([[10, 20, 30, 26]]), 64, gamma=0.9, k=1.0)[0, 0]  # x 10..29, y 20..25
    assert (mask[20:26, 10:30] == 1).all()  # inside: 1
    assert mask[19, 15].item() == pytest.approx(0.9)  # one pixel above
    assert mask[26, 15].item() == pytest.approx(0.9)  # one pixel below (x1, y1 exclusive)
    assert mask[20, 7].item() == pytest.approx(0.9**3)  # three to the left
    assert mask[16, 33].item() == pytest.approx(0.9**4)  # a corner: the larger of the two distances
    assert mask[63, 63].item() == pytest.approx(0.9 ** (63 - 25), rel=1e-5)  # 38 rows below beats 34 columns right
    assert ((mask > 0) & (mask <= 1)).all()
    steeper = local_mask(torch.tensor([[10, 20, 30, 26]]), 64, gamma=0.9, k=2.0)[0, 0]
    assert steeper[19, 15].item() == pytest.approx(0.81)


def test_mask_takes_boxes_of_any_size_and_aspect():
    boxes = torch.tensor([[0, 0, 64, 64], [5, 5, 6, 6], [2, 30, 60, 34]])
    distance = box_distance(boxes, 64)
    assert distance.shape == (3, 1, 64, 64)
    assert (distance[0] == 0).all() and distance[1, 0, 5, 5] == 0 and distance[1, 0, 0, 0] == 5
    assert distance[2, 0, 29, 40] == 1 and distance[2, 0, 34, 40] == 1


def test_table_ii_channels():
    result = subprocess.run([sys.executable, "-m", "gankit_core", "info", "global-local", "--layers", "--json"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    layers = json.loads(result.stdout)["networks"]["global-local"]["layers"]
    convs = [row for row in layers if row["type"] == "Conv2d"]
    branch = [64, 128, 256, 512, 1024, 1024]
    assert [row["output"][0] for row in convs] == branch + branch + [1]
    assert [row["output"][1] for row in convs[:6]] == [64, 32, 16, 8, 4, 2]  # 4x4 stride 2 at 128 px
    assert convs[-1]["output"] == [1, 2, 2]


def test_scores_and_the_local_branch_sees_only_the_masked_image():
    torch.manual_seed(0)
    critic = api.create_component("discriminator", "global-local", width=4, image_size=64).eval()
    image = torch.rand(2, 3, 64, 64)
    mask = local_mask(torch.tensor([[20, 20, 40, 40]] * 2), 64)
    assert critic(image, mask).shape == (2,)
    far = image.clone()
    far[:, :, 0:2, 0:2] += 1.0  # far from the box: the local branch barely sees it
    local_before = critic.local_branch(image * mask)
    local_after = critic.local_branch(far * mask)
    global_change = (critic.global_branch(far) - critic.global_branch(image)).abs().mean()
    assert (local_after - local_before).abs().mean() < global_change


def test_works_with_another_generator():
    """Component reuse: the DCGAN generator's output scored by the global-local critic."""
    generator = api.create_component("generator", "dcgan", image_size=64, width=8)
    critic = api.create_component("discriminator", "global-local", width=4, image_size=64)
    images = generator(torch.randn(2, 100, 1, 1))
    assert critic(images, local_mask(torch.tensor([[0, 0, 32, 32]] * 2), 64)).shape == (2,)
