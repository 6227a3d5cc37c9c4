"""The global-local discriminator (Table II) and the local mask (Eq. 4)."""

import json
import subprocess
import sys

import pytest
import torch
from gankit_globallocal.discriminator import MatmulConv2d
from gankit_globallocal.mask import box_distance, local_mask
from torch import nn

from gankit_core import api
from gankit_core.matmul_conv import MATMUL_WEIGHTS, conv2d_as_matmul


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
    convs = [row for row in layers if row["type"] in ("Conv2d", "MatmulConv2d")]  # MatmulConv2d: an nn.Conv2d
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


def as_matmul(image: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    return conv2d_as_matmul(image, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation)


def _penalised(network, parameters, image: torch.Tensor, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The output, and the gradients to the input and to every parameter of output + a WGAN-GP-style penalty on
    the output's input gradient (a double backward, as the critic's training step takes)."""
    out = network(image, *args)
    (to_image,) = torch.autograd.grad((out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum(), image,
                                      create_graph=True)
    loss = out.sum() + to_image.flatten(1).norm(dim=1).sub(1).pow(2).sum()
    return (out, to_image, *torch.autograd.grad(loss, (image, *parameters)))


@pytest.mark.parametrize(("channels", "size", "bias"), [(64, 4, False), (32, 2, True), (16, 8, False)])
def test_a_conv_as_unfold_and_matmul_is_the_conv_with_its_gradients_and_double_backward(channels, size, bias):
    torch.manual_seed(0)
    conv = nn.Conv2d(channels, 2 * channels, 4, 2, 1, bias=bias).double()
    image = torch.randn(3, channels, size, size, dtype=torch.float64, requires_grad=True)
    expected = _penalised(conv, list(conv.parameters()), image)
    got = _penalised(lambda x: as_matmul(x, conv), list(conv.parameters()), image)
    for want, have in zip(expected, got, strict=True):
        assert torch.allclose(have, want, rtol=1e-12, atol=1e-12)


def test_the_critic_computes_its_big_convs_as_matmuls_on_a_cpu_with_the_same_scores_gradients_and_keys():
    """The convs of 4M weights or more compute as matmuls: at width 64 and 64 px the last two of each branch (8.4M
    and 16.8M weights), at width 32 the last (4.2M). At width 32 the critic's scores, input gradients and every
    weight gradient of a penalised loss are a plain-conv critic's to 1e-10 in fp64, with the same checkpoint keys;
    in bf16 autocast its scores are no further from fp64 than the plain convs'."""

    def big(critic: nn.Module) -> list[str]:
        return [name for name, module in critic.named_modules()
                if isinstance(module, MatmulConv2d) and module.weight.numel() >= MATMUL_WEIGHTS]

    paper_width = api.create_component("discriminator", "global-local", width=64, image_size=64)
    assert big(paper_width) == ["global_branch.12", "global_branch.15", "local_branch.12", "local_branch.15"]
    torch.manual_seed(0)
    critic = api.create_component("discriminator", "global-local", width=32, image_size=64)
    assert big(critic) == ["global_branch.15", "local_branch.15"]
    plain = api.create_component("discriminator", "global-local", width=32, image_size=64)
    for name, module in list(plain.named_modules()):
        if isinstance(module, MatmulConv2d):
            parent, _, child = name.rpartition(".")
            replacement = nn.Conv2d(module.in_channels, module.out_channels, 4, 2, 1, bias=module.bias is not None)
            setattr(plain.get_submodule(parent), child, replacement)
    plain.load_state_dict(critic.state_dict())
    assert list(plain.state_dict()) == list(critic.state_dict())
    image, mask = torch.rand(2, 3, 64, 64), local_mask(torch.tensor([[20, 20, 40, 40], [8, 30, 30, 44]]), 64)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = critic(image, mask).float(), plain(image, mask).float()
    critic.double(), plain.double()
    image = image.double().requires_grad_(True)
    expected = _penalised(plain, list(plain.parameters()), image, mask.double())
    got = _penalised(critic, list(critic.parameters()), image, mask.double())
    for want, have in zip(expected, got, strict=True):
        assert torch.allclose(have, want, rtol=1e-10, atol=1e-12)
    exact = expected[0].detach().float()
    assert (bf16[0] - exact).abs().max() <= 2 * (bf16[1] - exact).abs().max() + 1e-3


def test_a_conv_as_matmul_never_copies_its_weight_per_image():
    """In G's step the critic is frozen and its input needs a gradient: torch's matmul then runs a batch of
    transposed columns times the weight as one product per image over a copy of the weight each (32 copies of a
    16.8M weight made this form's first version slower than oneDNN's conv). One matrix product, no bmm, frozen or
    not."""
    from torch.profiler import ProfilerActivity, profile

    conv = MatmulConv2d(256, 256, 4, 2, 1)
    for frozen in (False, True):
        conv.requires_grad_(not frozen)
        image = torch.randn(8, 256, 4, 4, requires_grad=True)
        with profile(activities=[ProfilerActivity.CPU]) as profiler:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = as_matmul(image, conv)
            out.float().sum().backward()
        names = {event.key for event in profiler.key_averages()}
        assert "aten::mm" in names or "aten::addmm" in names
        assert "aten::bmm" not in names, f"frozen={frozen}"
