"""The reference CycleGAN iteration, written the way junyanz/pytorch-CycleGAN-and-pix2pix
(``CycleGANModel.optimize_parameters``) writes it: fp32, eager, NCHW; forward (fake, reconstruction), then the
generators' step with the identity passes, then each discriminator with separate real and fake passes on
fakes from its list-based image pool. Same networks and loss weights as gankit's cyclegan."""

from __future__ import annotations

import itertools
import random

import torch

from gankit_core import api
from gankit_core.data import open_dataset
from gankit_core.weights import init_weights


class ListImagePool:
    """junyanz's ``util/image_pool.py``: a Python list of past fakes, swapped in with probability 1/2."""

    def __init__(self, pool_size: int) -> None:
        self.pool_size, self.images = pool_size, []

    def query(self, images):
        return_images = []
        for image in images:
            image = torch.unsqueeze(image.data, 0)
            if len(self.images) < self.pool_size:
                self.images.append(image)
                return_images.append(image)
            elif random.uniform(0, 1) > 0.5:
                random_id = random.randint(0, self.pool_size - 1)
                tmp = self.images[random_id].clone()
                self.images[random_id] = image
                return_images.append(tmp)
            else:
                return_images.append(image)
        return torch.cat(return_images, 0)


def make_reference_step(batch_size: int, image_size: int = 256, width: int = 64):
    torch.manual_seed(0)
    random.seed(0)
    net_g_a, net_g_b = (api.create_component("generator", "resnet", image_size=image_size, width=width, n_blocks=9)
                        for _ in range(2))
    net_d_a, net_d_b = (api.create_component("discriminator", "patchgan", width=width, layers=3, image_size=image_size)
                        for _ in range(2))
    for network in (net_g_a, net_g_b, net_d_a, net_d_b):
        network.apply(init_weights)
    optimizer_g = torch.optim.Adam(itertools.chain(net_g_a.parameters(), net_g_b.parameters()), lr=1e-4,
                                   betas=(0.5, 0.999))
    optimizer_d = torch.optim.Adam(itertools.chain(net_d_a.parameters(), net_d_b.parameters()), lr=1e-4,
                                   betas=(0.5, 0.999))
    fake_a_pool, fake_b_pool = ListImagePool(50), ListImagePool(50)
    data = open_dataset(f"synthetic-unpaired:n={max(16, batch_size)}", image_size).take(torch.arange(batch_size))
    real_a, real_b = data["image"].float() / 127.5 - 1, data["image_b"].float() / 127.5 - 1
    mse, l1 = torch.nn.MSELoss(), torch.nn.L1Loss()
    lambda_a = lambda_b = 10.0
    lambda_idt = 0.5

    def gan_loss(prediction, target_is_real: bool):
        target = torch.tensor(1.0 if target_is_real else 0.0).expand_as(prediction)
        return mse(prediction, target)

    def set_requires_grad(nets, requires_grad: bool) -> None:
        for net in nets:
            for param in net.parameters():
                param.requires_grad = requires_grad

    def backward_d_basic(net_d, real, fake):
        loss_d = (gan_loss(net_d(real), True) + gan_loss(net_d(fake.detach()), False)) * 0.5
        loss_d.backward()
        return loss_d

    def step() -> None:
        fake_b = net_g_a(real_a)
        rec_a = net_g_b(fake_b)
        fake_a = net_g_b(real_b)
        rec_b = net_g_a(fake_a)
        set_requires_grad([net_d_a, net_d_b], False)
        optimizer_g.zero_grad()
        idt_a = net_g_a(real_b)
        loss_idt_a = l1(idt_a, real_b) * lambda_b * lambda_idt
        idt_b = net_g_b(real_a)
        loss_idt_b = l1(idt_b, real_a) * lambda_a * lambda_idt
        loss_g = (gan_loss(net_d_a(fake_b), True) + gan_loss(net_d_b(fake_a), True)
                  + l1(rec_a, real_a) * lambda_a + l1(rec_b, real_b) * lambda_b + loss_idt_a + loss_idt_b)
        loss_g.backward()
        optimizer_g.step()
        set_requires_grad([net_d_a, net_d_b], True)
        optimizer_d.zero_grad()
        backward_d_basic(net_d_a, real_b, fake_b_pool.query(fake_b))
        backward_d_basic(net_d_b, real_a, fake_a_pool.query(fake_a))
        optimizer_d.step()

    return step
