"""Small models for engine tests: a batch-norm-free WGAN-GP (exact under data parallel) and one that diverges."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gankit_core.hookspecs import hookimpl
from gankit_core.interfaces import Model, ModelConfig, OptimizerSpec


@dataclass
class TinyConfig(ModelConfig):
    image_size: int = 32
    batch_size: int = 8
    latent_dim: int = 8
    gp_weight: float = 10.0
    data: str = "synthetic-faces:n=32,identities=8"


class TinyWGAN(Model):
    """A tiny WGAN-GP (Gulrajani et al. 2017) used by the engine tests."""

    name = "tiny-wgan"
    Config = TinyConfig

    def build(self):
        s = self.config.image_size
        generator = nn.Sequential(nn.Linear(self.config.latent_dim, 3 * 8 * 8), nn.Unflatten(1, (3, 8, 8)),
                                  nn.Upsample(size=(s, s)), nn.Conv2d(3, 3, 3, padding=1), nn.Tanh())
        critic = nn.Sequential(nn.Conv2d(3, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4, 4, 4, 2, 1),
                               nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(4 * (s // 4) ** 2, 1))
        return {"generator": generator, "discriminator": critic}

    def optimizers(self, nets):
        return {"discriminator": OptimizerSpec(nets.discriminator.parameters(), 1e-3, (0.5, 0.9)),
                "generator": OptimizerSpec(nets.generator.parameters(), 1e-3, (0.5, 0.9))}

    def train_step(self, nets, batch, step):
        real = batch["image"]
        z = step.randn(real.shape[0], self.config.latent_dim)
        with step.autocast():
            fake = nets.generator(z)
            loss_d = nets.discriminator(fake.detach()).float().mean() - nets.discriminator(real).float().mean()
        penalty = step.gradient_penalty(nets.discriminator, real, fake)
        step.optimize("discriminator", loss_d + self.config.gp_weight * penalty)
        out = {"loss_d": loss_d.detach(), "gp": penalty.detach()}
        if step.train_generator:
            with step.autocast():
                loss_g = -nets.discriminator(fake).float().mean()
            step.optimize("generator", loss_g)
            out["loss_g"] = loss_g.detach()
        return out

    def sample_inputs(self, n, batch, generator):
        return {"z": torch.randn(n, self.config.latent_dim, generator=generator)}

    def sample(self, nets, inputs):
        return nets.generator(inputs["z"])


class Diverging(TinyWGAN):
    """Returns a NaN loss from step ``nan_from`` on (a stand-in for a blown-up run)."""

    name = "diverging"
    nan_from = 3

    def train_step(self, nets, batch, step):
        out = super().train_step(nets, batch, step)
        if step.index >= self.nan_from:
            step.optimize("generator", torch.tensor(float("nan"), requires_grad=True))
        return out


class TinyModels:
    @staticmethod
    @hookimpl
    def register_models(register):
        register("tiny-wgan", TinyWGAN, summary="tiny WGAN-GP for tests", paper="tests")
        register("diverging", Diverging, summary="diverges for tests", paper="tests")
