"""The reference DCGAN training step, written the way pytorch/examples' dcgan/main.py writes it:
fp32, eager, NCHW, Sigmoid + BCELoss, two backward passes for D, plain Adam, no engine.

Networks use paper 002's LeakyReLU generator so that the comparison with gankit's default dcgan
is like for like (the ReLU of the original costs the same).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _stages(image_size: int) -> int:
    """Up/down-sampling stages between 4x4 and the image: pytorch/examples' four at 64 px, one fewer per halving
    (the same rule gankit's DCGAN follows, so every size it supports compares like for like)."""
    stages = math.log2(image_size) - 2
    if not stages.is_integer() or not 3 <= stages <= 5:
        raise ValueError(f"the DCGAN reference takes image sizes 32, 64 and 128, not {image_size}")
    return int(stages)


class Generator(nn.Module):
    def __init__(self, nz: int = 100, ngf: int = 64, image_size: int = 64) -> None:
        super().__init__()
        stages = _stages(image_size)
        channels = ngf * 2 ** (stages - 1)  # ngf * 8 at 64 px
        layers = [nn.ConvTranspose2d(nz, channels, 4, 1, 0, bias=False), nn.BatchNorm2d(channels), nn.LeakyReLU(0.2, True)]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(channels // 2),
                       nn.LeakyReLU(0.2, True)]
            channels //= 2
        layers += [nn.ConvTranspose2d(channels, 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x):
        return self.main(x)


class Discriminator(nn.Module):
    def __init__(self, ndf: int = 64, image_size: int = 64) -> None:
        super().__init__()
        stages = _stages(image_size)
        layers = [nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        channels = ndf
        for _ in range(stages - 1):
            layers += [nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(channels * 2),
                       nn.LeakyReLU(0.2, inplace=True)]
            channels *= 2
        layers += [nn.Conv2d(channels, 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)


def make_reference_step(batch_size: int, image_size: int = 64, nz: int = 100):
    """A closure running one pytorch/examples DCGAN iteration on a fixed real batch."""
    torch.manual_seed(0)
    net_g, net_d = Generator(nz, image_size=image_size), Discriminator(image_size=image_size)
    criterion = nn.BCELoss()
    optimizer_d = torch.optim.Adam(net_d.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizer_g = torch.optim.Adam(net_g.parameters(), lr=0.0002, betas=(0.5, 0.999))
    real = torch.rand(batch_size, 3, image_size, image_size) * 2 - 1

    def step() -> None:
        net_d.zero_grad()
        label = torch.full((batch_size,), 1.0)
        output = net_d(real)
        criterion(output, label).backward()
        noise = torch.randn(batch_size, nz, 1, 1)
        fake = net_g(noise)
        label.fill_(0.0)
        output = net_d(fake.detach())
        criterion(output, label).backward()
        optimizer_d.step()
        net_g.zero_grad()
        label.fill_(1.0)
        output = net_d(fake)
        criterion(output, label).backward()
        optimizer_g.step()

    return step
