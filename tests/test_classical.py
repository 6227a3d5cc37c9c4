"""The classical translation tools as torch modules (gankit_core/classical.py): they compute what OpenCV computes,
pass gradients, and a residual generator built on one starts as that tool exactly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from gankit_core import api
from gankit_core.classical import CloseBlur, GaussianBlur, ResidualFilter, Stylize, residual_base
from gankit_core.data.synthetic_dataset import translation_twins
from gankit_core.errors import ConfigError
from gankit_core.images import to_uint8, to_unit
from gankit_core.translation import CARTOON_FILTER, SMOOTHING, base_l1, cartoon_filter
from gankit_core.weights import init_weights


@pytest.fixture(scope="module")
def twins() -> tuple[torch.Tensor, torch.Tensor]:
    """16 held-out photo faces and their cartoon twins, uint8, 64 px."""
    photos, cartoons = translation_twins(1, 16, 64, ("photo", "cartoon"))
    return torch.from_numpy(photos), torch.from_numpy(cartoons)


def test_stylize_is_opencvs_cartoon_filter(twins):
    """Within one grey level of cv2.stylization on every pixel (8-bit rounding), with the filter's settings."""
    photos, _ = twins
    ours = to_uint8(Stylize(**CARTOON_FILTER)(to_unit(photos)))
    difference = (ours.int() - cartoon_filter(photos).int()).abs()
    assert difference.max() <= 1
    assert difference.float().mean() < 0.01


def test_close_blur_is_opencvs_closing_and_gaussian_blur(twins):
    """The cartoon-to-photo tool without its grain: cv2's closing then GaussianBlur, within one grey level; the
    grain adds a fixed pattern of the asked standard deviation."""
    _, cartoons = twins
    kernel = np.ones((SMOOTHING["close"],) * 2, np.uint8)
    expected = np.stack([cv2.GaussianBlur(cv2.morphologyEx(image, cv2.MORPH_CLOSE, kernel), (0, 0), SMOOTHING["sigma"])
                         for image in cartoons.permute(0, 2, 3, 1).numpy()])
    ours = to_uint8(CloseBlur(64)(to_unit(cartoons))).permute(0, 2, 3, 1).numpy()
    assert np.abs(ours.astype(int) - expected.astype(int)).max() <= 1
    grained = CloseBlur(64, grain=4.0)
    added = (grained(to_unit(cartoons)) - CloseBlur(64)(to_unit(cartoons))) * 127.5
    assert added.std().item() == pytest.approx(4.0, rel=0.05)
    assert torch.equal(grained(to_unit(cartoons[:1])), grained(to_unit(cartoons[:1])))  # one fixed pattern


@pytest.mark.parametrize("tool", [Stylize(), CloseBlur(64)], ids=["stylize", "close-blur"])
def test_the_tools_pass_gradients_that_descend(tool, twins):
    """A generator upstream of a base (the cycle G_ab(G_ba(b))) learns through it: the gradient is finite, and a
    small step against it brings the tool's output closer to another face's (the windows, held fixed in the
    gradient, do not spoil the direction)."""
    photos, cartoons = twins
    image, target = to_unit(photos[:4]).requires_grad_(), tool(to_unit(photos[4:8]))
    loss = (tool(image) - target).square().mean()
    loss.backward()
    assert torch.isfinite(image.grad).all() and image.grad.abs().sum() > 0
    with torch.no_grad():
        stepped = image - 0.05 * image.grad / image.grad.abs().max()
        assert (tool(stepped) - target).square().mean() < loss


@pytest.mark.parametrize(("generator", "extra"), [("resnet", {"n_blocks": 1}), ("ugatit", {"n_blocks": 1})])
def test_a_generator_on_a_classical_base_starts_as_that_tool(generator, extra, twins):
    """``base="stylize"`` with ``identity_start``: before training, G_a2b is OpenCV's cartoon filter."""
    photos, _ = twins
    network = api.create_component("generator", generator, image_size=64, width=8, residual=True,
                                   identity_start=True, base="stylize", **extra)
    network.apply(init_weights)
    with torch.no_grad():
        translated = to_uint8(network(to_unit(photos)))
    assert (translated.int() - cartoon_filter(photos).int()).abs().max() <= 1


def _image_of(result: torch.Tensor | tuple[torch.Tensor, ...]) -> torch.Tensor:
    return result[0] if isinstance(result, tuple) else result  # ugatit's generator: (image, CAM logit, heatmap)


def _speckle(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between vertically neighbouring pixels."""
    return (images[..., 1:, :] - images[..., :-1, :]).abs().mean()


@pytest.mark.parametrize(("generator", "extra"), [("resnet", {"n_blocks": 1}), ("ugatit", {"n_blocks": 1})])
def test_residual_blur_smooths_what_the_generator_adds_and_nothing_else(generator, extra, twins):
    """With ``residual_blur`` a residual generator adds a Gaussian-blurred residual to its base: the same weights'
    output is exactly the base plus the blurred residual of the generator without the blur (the blur has no
    weights, so checkpoints load either way), and a freshly initialised network's pixel-scale speckle shrinks to
    well under half while its mean colour (a smooth change) is kept."""
    photos, _ = twins
    image = to_unit(photos[:4]) * 0.1  # room for the residual inside (-1, 1): no output clamp
    torch.manual_seed(0)
    networks = {}
    for blur in (0.0, 0.8):
        networks[blur] = api.create_component("generator", generator, image_size=64, width=8, residual=True,
                                              residual_blur=blur, **extra)
    networks[0.0].apply(init_weights)
    networks[0.8].load_state_dict(networks[0.0].state_dict())
    with torch.no_grad():
        sharp, smooth = (_image_of(networks[blur](image)) - image for blur in (0.0, 0.8))
    assert torch.allclose(smooth, GaussianBlur(0.8)(sharp), atol=1e-5)
    assert _speckle(smooth) < 0.5 * _speckle(sharp)
    assert torch.allclose(smooth.mean((2, 3)), sharp.mean((2, 3)), atol=0.1 * sharp.abs().mean().item())
    with pytest.raises(ConfigError, match="residual_blur_a2b needs residual=true"):
        api.create_model("cyclegan", residual_blur_a2b=0.8)
    with pytest.raises(ConfigError, match="residual_blur_b2a must be 0"):
        api.create_model("ugatit", residual=True, residual_blur_b2a=-1)
    with pytest.raises(ConfigError, match="residual_blur_a2b must be at most 8"):  # a kernel wider than the image
        api.create_model("cyclegan", residual=True, residual_blur_a2b=100)
    model = api.create_model("cyclegan", image_size=32, g_width=4, d_width=4, n_blocks=1, residual=True,
                             residual_blur_a2b=0.8)
    nets = model.build()
    assert isinstance(nets["gen_a2b"].residual_filter.blur, GaussianBlur)  # one direction only
    assert isinstance(nets["gen_b2a"].residual_filter.blur, torch.nn.Identity)


def test_residual_shrink_drops_small_corrections_at_inference_and_trains_on_them_whole():
    """``residual_shrink=T``: in eval mode a correction under T grey levels is dropped and a larger one shortened
    by T (a soft threshold), so the output equals the base wherever the generator only jitters; in training the
    correction passes whole, so a generator that starts as its base still gets gradients."""
    levels = torch.tensor([-20.0, -8.0, -3.0, 0.0, 3.0, 8.0, 20.0]).view(1, 1, 1, 7) / 127.5
    shrink = ResidualFilter(64, shrink=8.0)
    assert torch.equal(shrink(levels), levels)  # training mode
    shrink.eval()
    expected = torch.tensor([-12.0, 0.0, 0.0, 0.0, 0.0, 0.0, 12.0]).view(1, 1, 1, 7) / 127.5
    assert torch.allclose(shrink(levels), expected, atol=1e-6)
    torch.manual_seed(0)
    generator = api.create_component("generator", "resnet", image_size=32, width=4, n_blocks=1, residual=True,
                                     residual_shrink=8)
    generator.apply(init_weights)
    image = torch.rand(1, 3, 32, 32) * 0.5 - 0.25
    with torch.no_grad():
        whole = generator.train()(image) - image
        shrunk = generator.eval()(image) - image
    small = whole.abs() < 8 / 127.5
    assert 0.05 < small.float().mean() < 0.95  # both kinds of correction occur
    assert shrunk[small].abs().max() < 1e-6
    assert torch.allclose(shrunk[~small].abs(), whole[~small].abs() - 8 / 127.5, atol=1e-5)
    with pytest.raises(ConfigError, match="residual_shrink needs residual=true"):
        api.create_model("cyclegan", residual_shrink=8)
    with pytest.raises(ConfigError, match="residual_shrink must be 0"):
        api.create_model("cyclegan", residual=True, residual_shrink=-1)


def test_a_base_needs_a_residual_generator_and_a_known_name():
    with pytest.raises(ConfigError, match="needs residual=true"):
        api.create_model("cyclegan", base_a2b="stylize")
    with pytest.raises(ConfigError, match="base_b2a must be one of input, stylize, close-blur"):
        api.create_model("ugatit", residual=True, base_b2a="sketch")
    with pytest.raises(ConfigError, match="unknown residual base 'sketch'"):
        residual_base("sketch", 64)
    with pytest.raises(ConfigError, match="generator 'unet' has no residual base"):  # refused before training
        api.create_model("cyclegan", preset="cpu", generator="unet").build()


@pytest.mark.parametrize("model", ["cyclegan", "ugatit"])
def test_residual_false_on_the_cpu_preset_names_every_value_that_needs_it(model):
    """``--preset cpu --set residual=false``: one line naming all the preset's values that need a residual
    generator, not the first of them checked."""
    with pytest.raises(ConfigError) as raised:
        api.create_model(model, preset="cpu", residual=False, residual_shrink=8)
    assert str(raised.value) == (
        "identity_start, base_a2b=stylize, base_b2a=close-blur, base_weight, residual_blur_a2b, residual_shrink "
        "need residual=true: only a residual generator starts as the identity, adds its output to a base or has a "
        "correction to filter")


def test_base_l1_measures_how_far_a_generator_moved_from_its_base(twins):
    """At the start (identity_start) a generator on a base is exactly its base (up to the output clamp), so ``base_l1`` is 0; a translation
    moved by 0.1 everywhere is 0.1 away in each direction."""
    photos, cartoons = twins
    model = api.create_model("cyclegan", image_size=64, g_width=8, d_width=8, n_blocks=1, residual=True,
                             identity_start=True, base_a2b="stylize", base_b2a="close-blur", base_weight=10)
    nets = torch.nn.ModuleDict(model.build())
    nets.apply(init_weights)
    real = {"a": to_unit(photos[:4]), "b": to_unit(cartoons[:4])}
    with torch.no_grad():
        fake = {"b": nets.gen_a2b(real["a"]), "a": nets.gen_b2a(real["b"])}
        assert base_l1(nets, real, fake).item() == pytest.approx(0, abs=1e-5)  # the output clamp at the grain's peaks
        moved = {domain: image - 0.1 for domain, image in fake.items()}
        assert base_l1(nets, real, moved).item() == pytest.approx(0.2, abs=1e-5)
    with pytest.raises(ConfigError, match="base_weight needs residual=true"):
        api.create_model("ugatit", base_weight=1)


def test_a_cyclegan_step_on_classical_bases_trains_and_logs_how_far_it_moved(tmp_path):
    """Two steps of the cpu preset (narrowed) with OpenCV's cartoon filter and the closing as bases: the step logs
    ``loss_base``, which grows from 0 as the generators move."""
    import json

    model = api.create_model("cyclegan", preset="cpu", g_width=16, d_width=16, n_blocks=1, ema_decay=0.0,
                             base_a2b="stylize", base_b2a="close-blur", base_weight=10,
                             data="synthetic-unpaired:n=16,identities=8")
    result = api.train(model, steps=2, out=tmp_path, progress=False, log_every=1)
    lines = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    moved = [line["loss_base"] for line in lines if "loss_base" in line]
    assert moved and moved[-1] > 0
