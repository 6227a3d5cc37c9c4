"""The reference DCGAN training step, written the way pytorch/examples' dcgan/main.py writes it:
fp32, eager, NCHW, Sigmoid + BCELoss, two backward passes for D, plain Adam, no engine.

Networks use paper 002's LeakyReLU generator so that the comparison with gankit's default dcgan
is like for like (the ReLU of the original costs the same).
"""

from __future__ import annotations

import torch
from torch import nn


class Generator(nn.Module):
    def __init__(self, nz: int = 100, ngf: int = 64) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.LeakyReLU(0.2, True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.LeakyReLU(0.2, True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.LeakyReLU(0.2, True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.LeakyReLU(0.2, True),
            nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh(),
        )

    def forward(self, x):
        return self.main(x)


class Discriminator(nn.Module):
    def __init__(self, ndf: int = 64) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
        )

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)


def make_reference_step(batch_size: int, image_size: int = 64, nz: int = 100):
    """A closure running one pytorch/examples DCGAN iteration on a fixed real batch."""
    if image_size != 64:
        raise ValueError("the pytorch/examples DCGAN reference is 64x64 only")
    torch.manual_seed(0)
    net_g, net_d = Generator(nz), Discriminator()
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
