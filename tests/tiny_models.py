"""Small models for engine tests: a batch-norm-free WGAN-GP (exact under data parallel), one that diverges, and a
two-generator, two-stage model."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gankit_core.hookspecs import hookimpl
from gankit_core.interfaces import Model, ModelConfig, OptimizerSpec, Stage


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

    def generate(self, nets, inputs):
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


@dataclass
class TwoStageConfig(ModelConfig):
    image_size: int = 32
    batch_size: int = 4
    latent_dim: int = 8
    pretrain_steps: int = 3
    adversarial_steps: int = 3
    scale_limit: float = 0.5
    data: str = "synthetic-faces:n=16,identities=8"


class TwoStage(Model):
    """Two generators and two stages (the shape of U-GAT-IT and of expression transfer, in miniature): an
    autoencoder with batch norm is pretrained alone, then frozen while two generators and a critic train
    through it. Each optimizer has its own class, rate, decay and schedule; one has an after-step hook."""

    name = "two-stage"
    Config = TwoStageConfig
    inference_networks = ("gen_noise", "gen_image")
    sample_needs_data = True
    sample_columns = 3  # real, gen_image's translation, gen_noise's sample

    def build(self):
        s, z = self.config.image_size, self.config.latent_dim
        autoencoder = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                    nn.Conv2d(4, 3, 3, padding=1), nn.Tanh())
        gen_noise = nn.Sequential(nn.Linear(z, 3 * 4 * 4), nn.Unflatten(1, (3, 4, 4)), nn.Upsample(size=(s, s)),
                                  nn.Conv2d(3, 3, 3, padding=1), nn.Tanh())
        gen_image = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Tanh())
        gen_image.register_parameter("scale", nn.Parameter(torch.ones(())))  # kept in [0, limit] after each step
        critic = nn.Sequential(nn.Conv2d(3, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(4 * (s // 2) ** 2, 1))
        return {"autoencoder": autoencoder, "gen_noise": gen_noise, "gen_image": gen_image, "critic": critic}

    def stages(self):
        c = self.config
        return (Stage("pretrain", steps=c.pretrain_steps, trains=("autoencoder",), optimizers=("autoencoder",)),
                Stage("adversarial", steps=c.adversarial_steps, trains=("gen_noise", "gen_image", "critic"),
                      optimizers=("generators", "critic")))

    def optimizers(self, nets):
        limit = self.config.scale_limit

        def clip_scale():
            nets.gen_image.scale.clamp_(0.0, limit)

        generators = [*nets.gen_noise.parameters(), *nets.gen_image.parameters()]
        return {"autoencoder": OptimizerSpec(nets.autoencoder.parameters(), 1e-2, schedule="linear-half"),
                "generators": OptimizerSpec(generators, 2e-3, (0.5, 0.999), weight_decay=1e-4, kind="AdamW",
                                            after_step=clip_scale),
                "critic": OptimizerSpec(nets.critic.parameters(), 1e-3, kind="RMSprop")}

    def translate(self, nets, real):
        return nets.gen_image(nets.autoencoder(real)) * nets.gen_image.scale

    def train_step(self, nets, batch, step):
        real = batch["image"]
        if step.stage == "pretrain":
            with step.autocast():
                loss = (nets.autoencoder(real).float() - real.float()).abs().mean()
            step.optimize("autoencoder", loss)
            return {"loss_rec": loss.detach()}
        z = step.randn(real.shape[0], self.config.latent_dim)
        with step.autocast():
            fakes = torch.cat([nets.gen_noise(z), self.translate(nets, real)])
            loss_d = nets.critic(fakes.detach()).float().mean() - nets.critic(real).float().mean()
        step.optimize("critic", loss_d)
        with step.autocast():
            loss_g = -nets.critic(fakes).float().mean()
        step.optimize("generators", loss_g)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}

    def sample_inputs(self, n, batch, generator):
        return {"z": torch.randn(n, self.config.latent_dim, generator=generator), "real": batch["image"][:n]}

    def generate(self, nets, inputs):
        return nets.gen_noise(inputs["z"])

    def example_inputs(self, network):
        if network == "gen_noise":
            return (torch.zeros(2, self.config.latent_dim),)
        return super().example_inputs(network)

    def sample(self, nets, inputs):
        real = inputs["real"]
        rows = torch.stack([real, self.translate(nets, real).to(real.dtype), self.generate(nets, inputs).to(real.dtype)], 1)
        return rows.flatten(0, 1)


class TinyModels:
    @staticmethod
    @hookimpl
    def register_models(register):
        register("tiny-wgan", TinyWGAN, summary="tiny WGAN-GP for tests", paper="tests")
        register("diverging", Diverging, summary="diverges for tests", paper="tests")
        register("two-stage", TwoStage, summary="two generators, two stages, for tests", paper="tests")
