"""The reference CREGAN iteration, written the way public WGAN-GP code writes it: fp32, eager, NCHW,
separate critic passes for real, fake and the penalty, the fake recomputed for the generator's
step, plain Adam, no engine, torch's own convolutions (the networks' CPU forms of their big and dilated convs, the same
sums, are gankit's; ``_with_plain_convs``). Same networks and maths as gankit's cregan with its default settings
(Algorithm 1: a mouth phase and an eye phase, the generator every ``n_critic``-th iteration; G a
residual over its input starting as the identity, its smoothed change used inside the exchange area
and its feathered band: the model's own ``generate_composed``)."""

from __future__ import annotations

import types

import torch
from gankit_cregan.model import BOX_FIELDS, exchange, exchange_masks
from gankit_globallocal.mask import local_mask

from gankit_core import api
from gankit_core.data import open_dataset


def _with_plain_convs(network: torch.nn.Module) -> torch.nn.Module:
    """The network with every conv computed by torch's ``nn.Conv2d.forward``, as public code would run it: the
    critic's ``MatmulConv2d`` and the generator's ``LiveTapConv2d`` compute the same sums in a faster form."""
    for module in network.modules():
        if isinstance(module, torch.nn.Conv2d) and type(module) is not torch.nn.Conv2d:
            module.forward = types.MethodType(torch.nn.Conv2d.forward, module)
    return network


def make_reference_step(batch_size: int, image_size: int = 128, width: int = 64):
    torch.manual_seed(0)
    model = api.create_model("cregan", image_size=image_size, batch_size=batch_size)
    config = model.config
    generator = _with_plain_convs(api.create_component("generator", "dilated", width=width, image_size=image_size,
                                                       residual=True, identity_start=True))
    critic = _with_plain_convs(api.create_component("discriminator", "global-local", width=width,
                                                    image_size=image_size))
    optimizer_d = torch.optim.Adam(critic.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    optimizer_g = torch.optim.Adam(generator.parameters(), lr=config.g_lr, betas=(config.beta1, config.beta2))
    data = open_dataset(f"synthetic-faces:n={max(64, batch_size)}", image_size).take(torch.arange(batch_size))
    real = data["image"].float() / 127.5 - 1
    iteration = [0]

    def gradient_penalty(real_images, fake_images, mask):
        alpha = torch.rand(real_images.shape[0], 1, 1, 1)
        points = (alpha * real_images + (1 - alpha) * fake_images).requires_grad_(True)
        scores = critic(points, mask)
        gradients = torch.autograd.grad(scores, points, torch.ones_like(scores), create_graph=True)[0]
        return ((gradients.flatten(1).norm(2, dim=1) - 1) ** 2).mean()

    def phase(field: str, train_generator: bool) -> None:
        boxes = data[field]
        partner = torch.randperm(batch_size)
        mask, union = exchange_masks(boxes, boxes[partner], image_size)
        feather = model.composite_mask(boxes, boxes[partner], image_size).repeat(2, 1, 1, 1)
        local = local_mask(union, image_size)
        local2 = torch.cat([local, local])
        reals = torch.cat([real, real[partner]])
        inputs = torch.cat(exchange(real, real[partner], mask))
        fakes = model.generate_composed(generator, inputs, feather)
        optimizer_d.zero_grad()
        loss_d = critic(fakes.detach(), local2).mean() - critic(reals, local2).mean()
        loss_d = loss_d + 10 * gradient_penalty(reals, fakes.detach(), local2)
        loss_d.backward()
        optimizer_d.step()
        if train_generator:
            optimizer_g.zero_grad()
            fakes = model.generate_composed(generator, inputs, feather)
            fake_i, fake_j = fakes.chunk(2)
            back = torch.cat(exchange(fake_i, fake_j, mask))
            reconstruction = (model.generate_composed(generator, back, feather) - reals).abs().mean()
            loss_g = -critic(fakes, local2).mean() + 10 * reconstruction
            loss_g.backward()
            optimizer_g.step()

    def step() -> None:
        train_generator = (iteration[0] + 1) % config.n_critic == 0
        for field in (BOX_FIELDS["mouth"], BOX_FIELDS["eyes"]):
            phase(field, train_generator)
        iteration[0] += 1

    return step
