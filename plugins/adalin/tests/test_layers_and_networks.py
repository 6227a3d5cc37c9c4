"""AdaLIN/LIN against a hand computation, rho clipping, the networks' shapes and paper 001's Table 1 counts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from gankit_adalin.layers import LIN, AdaLIN, clip_rho, layer_instance_norm

from gankit_core import api
from gankit_core.errors import ConfigError


def trainable(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_adalin_is_the_papers_formula_computed_by_hand():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 5) * 3 + 1
    gamma, beta = torch.randn(2, 3), torch.randn(2, 3)
    layer = AdaLIN(3)
    with torch.no_grad():
        layer.rho.copy_(torch.tensor([0.0, 0.3, 1.0]))
    out = layer(x, gamma, beta)
    eps = 1e-5
    for n in range(2):
        everything = x[n].flatten()
        mean_l = everything.sum() / everything.numel()
        var_l = ((everything - mean_l) ** 2).sum() / everything.numel()
        for c in range(3):
            plane = x[n, c].flatten()
            mean_i = plane.sum() / plane.numel()
            var_i = ((plane - mean_i) ** 2).sum() / plane.numel()
            a_i = (x[n, c] - mean_i) / (var_i + eps).sqrt()
            a_l = (x[n, c] - mean_l) / (var_l + eps).sqrt()
            rho = layer.rho[c]
            expected = gamma[n, c] * (rho * a_i + (1 - rho) * a_l) + beta[n, c]
            torch.testing.assert_close(out[n, c], expected, atol=1e-5, rtol=1e-5)


def test_rho_one_is_instance_norm_and_rho_zero_is_layer_norm():
    x = torch.randn(3, 8, 6, 6) * 2 - 0.5
    ones, zeros = torch.ones(3, 8), torch.zeros(3, 8)
    instance = AdaLIN(8, rho_init=1.0)(x, ones, zeros)
    torch.testing.assert_close(instance, F.instance_norm(x), atol=1e-5, rtol=1e-5)
    layer = LIN(8)  # starts at rho 0, gamma 1, beta 0: plain layer norm
    torch.testing.assert_close(layer(x), F.layer_norm(x, x.shape[1:]), atol=1e-5, rtol=1e-5)


def test_lin_gradients_reach_rho_gamma_and_beta():
    layer = LIN(4)
    layer(torch.randn(2, 4, 5, 5)).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in (layer.rho, layer.gamma, layer.beta))


def literal_layer_instance_norm(x, rho, gamma, beta, eps=1e-5):
    """The paper's formula as written, in fp64, for autograd to differentiate."""
    x = x.double()
    a_i = (x - x.mean((2, 3), keepdim=True)) / (x.var((2, 3), keepdim=True, unbiased=False) + eps).sqrt()
    a_l = (x - x.mean((1, 2, 3), keepdim=True)) / (x.var((1, 2, 3), keepdim=True, unbiased=False) + eps).sqrt()
    rho, channels = rho.view(1, -1, 1, 1), x.shape[1]
    return gamma.reshape(-1, channels, 1, 1) * (rho * a_i + (1 - rho) * a_l) + beta.reshape(-1, channels, 1, 1)


@pytest.mark.parametrize("per_image", [True, False], ids=["adalin", "lin"])
@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, 1e-11), (torch.float32, 1e-4), (torch.bfloat16, 2e-2)])
def test_layer_instance_norm_gradients_are_autograds_through_the_formula(per_image, dtype, tolerance):
    """The hand-written backward against autograd through the literal formula in fp64, to x, rho, gamma and beta
    (gamma and beta per image for AdaLIN, per channel for LIN), on maps whose mean is large against their spread."""
    torch.manual_seed(0)
    x = (torch.randn(3, 6, 5, 7, dtype=torch.float64) * 0.5 + 20).to(dtype).requires_grad_(True)
    shape = (3, 6) if per_image else (6,)
    rho = torch.rand(6, dtype=torch.float64, requires_grad=True)
    gamma, beta = (torch.randn(shape, dtype=torch.float64, requires_grad=True) for _ in range(2))
    grad = torch.randn(3, 6, 5, 7, dtype=torch.float64)
    x_exact = x.detach().double().requires_grad_(True)
    expected = torch.autograd.grad(literal_layer_instance_norm(x_exact, rho, gamma, beta), (x_exact, rho, gamma, beta),
                                   grad)
    out = layer_instance_norm(x, rho, gamma, beta)
    assert out.dtype == dtype
    got = torch.autograd.grad(out, (x, rho, gamma, beta), grad.to(dtype))
    for name, want, have in zip(("x", "rho", "gamma", "beta"), expected, got, strict=True):
        assert have.shape == want.shape and have.dtype == (dtype if name == "x" else torch.float64)
        error = float((have.double() - want).abs().max() / want.abs().max())
        assert error < tolerance, (name, error)


def test_layer_instance_norm_keeps_only_its_input_for_the_backward():
    """A bf16 map's backward reads the map itself: no fp32 copy of it (twice its size) is kept per layer."""
    x = torch.randn(2, 8, 16, 16, dtype=torch.bfloat16, requires_grad=True)
    kept = []

    def keep(tensor):
        kept.append(tensor)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        layer_instance_norm(x, torch.rand(8), torch.randn(2, 8), torch.randn(2, 8))
    maps = [tensor for tensor in kept if tensor.numel() == x.numel()]
    assert sum(tensor.numel() * tensor.element_size() for tensor in maps) == x.numel() * x.element_size()


def test_clip_rho_clamps_every_layer_instance_norm_to_the_unit_interval():
    generator = api.create_component("generator", "ugatit", image_size=32, width=4, n_blocks=2)
    layers = [m for m in generator.modules() if isinstance(m, (AdaLIN, LIN))]
    assert len(layers) == 2 * 2 + 2  # two per AdaLIN block, one per up-sampling stage
    pattern = torch.tensor([-0.5, 0.25, 0.75, 1.5])
    with torch.no_grad():
        for layer in layers:
            layer.rho.copy_(pattern.repeat(layer.rho.numel() // 4))
    untouched = generator.gamma.weight.clone()
    clip_rho(generator)
    for layer in layers:  # out-of-range values go to the nearest bound, values inside keep theirs
        assert torch.equal(layer.rho, torch.tensor([0.0, 0.25, 0.75, 1.0]).repeat(layer.rho.numel() // 4))
    assert torch.equal(generator.gamma.weight, untouched)


@pytest.mark.parametrize("light", [True, False])
def test_generator_returns_image_cam_logit_and_heatmap(light):
    generator = api.create_component("generator", "ugatit", image_size=32, width=8, n_blocks=2, light=light)
    decoded = []  # what the first AdaLIN block reads: the attention-weighted features the heatmap must sum
    hook = generator.decoder_blocks[0].register_forward_hook(lambda module, args, out: decoded.append(args[0]))
    image, cam_logit, heatmap = generator.translate_with_attention(torch.randn(3, 3, 32, 32))
    hook.remove()
    assert torch.equal(generator(torch.zeros(1, 3, 32, 32)), generator.translate_with_attention(torch.zeros(1, 3, 32, 32))[0])
    assert image.shape == (3, 3, 32, 32) and image.abs().max() <= 1
    assert cam_logit.shape == (3, 2)  # average- and max-pooled CAM logits
    assert heatmap.shape == (3, 1, 8, 8)
    # The heatmap is where the attended features the decoder reads are strong: their sum over channels, per image.
    assert torch.allclose(heatmap, decoded[0].sum(1, keepdim=True))
    assert heatmap.flatten(1).std(1).min() > 0 and not torch.allclose(heatmap[0], heatmap[1])
    # The full MLP reads the whole 8 x 8 x 32 attention map, the light one its channel means.
    first = generator.mlp[0].in_features
    assert first == (8 * 8 * 32 if not light else 32)


@pytest.mark.parametrize(("layers", "size", "logits"), [(7, 256, 6), (5, 256, 30), (5, 32, 2)])
def test_discriminator_shapes(layers, size, logits):
    discriminator = api.create_component("discriminator", "ugatit", width=4, layers=layers, image_size=size)
    out, cam_logit, heatmap = discriminator(torch.randn(2, 3, size, size))
    assert out.shape == (2, 1, logits, logits) and cam_logit.shape == (2, 2) and heatmap.shape[1] == 1


def test_discriminator_refuses_images_too_small_for_its_depth():
    with pytest.raises(ConfigError, match="needs images of 96 px or more"):
        api.create_component("discriminator", "ugatit", layers=7, image_size=64)


def test_discriminator_is_spectrally_normalised():
    discriminator = api.create_component("discriminator", "ugatit", width=4, layers=5, image_size=64)
    normalised = [name for name, _ in discriminator.named_modules() if name.endswith("parametrizations.weight")]
    assert len(normalised) == 4 + 2 + 1  # four body convs, the two CAM classifiers, the head
    discriminator.train()
    for _ in range(20):  # power iterations converge on the largest singular value
        discriminator(torch.randn(1, 3, 64, 64))
    weight = discriminator.body[1].weight.detach()
    assert torch.linalg.matrix_norm(weight.flatten(1), ord=2) == pytest.approx(1.0, abs=0.05)


def test_table_1_generator_count():
    """Paper 001 Table 1, modified model G_A/G_B: 10.59M = width 64, 4 residual blocks, the light MLP, 256 px."""
    generator = api.create_component("generator", "ugatit", image_size=256, width=64, n_blocks=4, light=True)
    assert trainable(generator) == 10_589_888


def test_table_1_global_discriminator_count():
    """Paper 001 Table 1, modified model D_A/D_B: 53.13M is the 7-layer global discriminator at width 64."""
    discriminator = api.create_component("discriminator", "ugatit", width=64, layers=7, image_size=256)
    assert trainable(discriminator) == 53_130_176
    local = api.create_component("discriminator", "ugatit", width=64, layers=5, image_size=256)
    assert trainable(local) == 3_290_560  # the local one, which Table 1 does not list


def test_a_residual_generator_with_identity_start_starts_as_the_identity_and_learns():
    """The gankit option (paper 001's generator draws the whole image): the zeroed last conv lets the image pass
    unchanged, and one optimizer step already changes the output."""
    generator = api.create_component("generator", "ugatit", image_size=32, width=8, n_blocks=1, residual=True,
                                     identity_start=True)
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    translated, cam_logit, _ = generator.translate_with_attention(image)
    assert torch.equal(translated, image) and cam_logit.shape == (2, 2)
    optimizer = torch.optim.Adam(generator.parameters(), lr=1e-3)
    (generator(image) - image.flip(-1)).abs().mean().backward()
    optimizer.step()
    assert not torch.equal(generator(image), image)
    with pytest.raises(ConfigError, match="identity_start needs residual"):
        api.create_component("generator", "ugatit", image_size=32, identity_start=True)


def literal_class_activation(network, features):
    """U-GAT-IT's CAM as its public code writes it: re-weighted features, concatenated, then the 1x1 fusion conv."""
    gap_weight, gmp_weight = network.gap_fc.weight, network.gmp_fc.weight
    logits = torch.cat([F.linear(features.mean((2, 3)), gap_weight), F.linear(features.amax((2, 3)), gmp_weight)], 1)
    weighted = torch.cat([features * gap_weight.view(1, -1, 1, 1), features * gmp_weight.view(1, -1, 1, 1)], 1)
    return logits, network.fuse(weighted)


@pytest.mark.parametrize("kind", ["generator", "discriminator"])
def test_cam_folded_into_the_fusion_conv_is_the_literal_cam(kind):
    """The fold is the same sums: logits, fused map and the gradients to the features and to every weight involved
    (the classifiers' spectral-norm originals in the discriminator) match the literal form in fp64."""
    torch.manual_seed(0)
    options = {"image_size": 32, "width": 4} | ({"n_blocks": 1} if kind == "generator" else {"layers": 5})
    network = api.create_component(kind, "ugatit", **options).double().eval()  # eval: spectral norm's u, v stay put
    channels = network.fuse.out_channels
    features = torch.randn(2, channels, 5, 6, dtype=torch.float64, requires_grad=True)
    weights = [features, *network.gap_fc.parameters(), *network.gmp_fc.parameters(), *network.fuse.parameters()]
    results = []
    for form in (network.attend, lambda f: literal_class_activation(network, f)):
        logits, fused = form(features)
        probe = torch.randn_like(fused, generator=torch.Generator().manual_seed(1))
        loss = (fused * probe).sum() + (logits * torch.tensor([0.3, -0.7], dtype=torch.float64)).sum()
        results.append([logits, fused, *torch.autograd.grad(loss, weights)])
    for folded, literal in zip(*results, strict=True):
        assert folded.shape == literal.shape
        torch.testing.assert_close(folded, literal, rtol=1e-12, atol=1e-12)
