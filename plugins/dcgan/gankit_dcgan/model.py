"""The DCGAN recipe: paper 002's configuration, paper 004's per-epoch logging of losses and scores."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gankit_core import frozen
from gankit_core.interfaces import Model, ModelConfig, OptimizerSpec, Preset


@dataclass
class DCGANConfig(ModelConfig):
    """Defaults are paper 002, section 4.2."""

    image_size: int = 64
    batch_size: int = 128
    latent_dim: int = 100
    g_features: int = 64
    d_features: int = 64
    lr: float = 0.0002
    beta1: float = 0.5
    beta2: float = 0.999
    g_activation: str = "leaky_relu"  # paper 002 uses LeakyReLU in G too; "relu" is Radford's original
    slope: float = 0.2
    loss: str = "bce"  # any registered loss: bce (non-saturating), lsgan, hinge, wgan
    generator: str = "dcgan"
    discriminator: str = "dcgan"


class DCGAN(Model):
    """DCGAN face generation (Radford et al. 2016) with paper 002's configuration: batch 128, 64x64 images,
    z of 100, 64 features in G and D, Adam 2e-4 with beta1 0.5, LeakyReLU, non-saturating BCE."""

    name = "dcgan"
    Config = DCGANConfig
    log_epochs = True  # paper 004 logs loss_g, loss_d, real_score, fake_score and a grid each epoch
    default_steps = 5000
    presets = {
        "paper": Preset("paper 002's configuration (the defaults): 64 px, batch 128, 5000 steps"),
        "cpu": Preset("docs/models/dcgan.md's run: batch 64, 3000 steps, a grid every 500",
                      {"steps": 3000, "batch_size": 64, "sample_every": 500},
                      measured="3000 steps, 811 s on 2 cores (bf16); faces by step 500, FID 169.4, KID 0.162 "
                               "at -n 500 (docs/models/dcgan.md)"),
    }

    def build(self) -> dict[str, nn.Module]:
        from gankit_core import api
        from gankit_core.weights import init_weights

        c = self.config
        generator = api.create_component("generator", c.generator, latent_dim=c.latent_dim, width=c.g_features,
                                         image_size=c.image_size, activation=c.g_activation, slope=c.slope)
        discriminator = api.create_component("discriminator", c.discriminator, width=c.d_features,
                                             image_size=c.image_size, slope=c.slope)
        generator.apply(init_weights)
        discriminator.apply(init_weights)
        self.loss = api.create_component("loss", c.loss)
        return {"generator": generator, "discriminator": discriminator}

    def optimizers(self, nets) -> dict[str, OptimizerSpec]:
        betas = (self.config.beta1, self.config.beta2)
        return {
            "discriminator": OptimizerSpec(nets.discriminator.parameters(), self.config.lr, betas),
            "generator": OptimizerSpec(nets.generator.parameters(), self.config.lr, betas),
        }

    def train_step(self, nets, batch, step) -> dict[str, Tensor]:
        real = batch["image"]
        z = step.randn(real.shape[0], self.config.latent_dim, 1, 1)
        with step.autocast():
            fake = nets.generator(z)
            # Real and fake go through D separately, as in the reference: each gets its own batch statistics.
            real_logits = nets.discriminator(real)
            fake_logits = nets.discriminator(fake.detach())
            loss_d = self.loss.discriminator(real_logits, fake_logits)
        step.optimize("discriminator", loss_d)
        scalars = {
            "loss_d": loss_d.detach(),
            "real_score": torch.sigmoid(real_logits.detach().float()).mean(),
            "fake_score": torch.sigmoid(fake_logits.detach().float()).mean(),
        }
        if step.train_generator:
            with frozen(nets.discriminator), step.autocast():
                loss_g = self.loss.generator(nets.discriminator(fake))
            step.optimize("generator", loss_g)
            scalars["loss_g"] = loss_g.detach()
        return scalars

    def sample_inputs(self, n, batch, generator) -> dict[str, Tensor]:
        return {"z": torch.randn(n, self.config.latent_dim, 1, 1, generator=generator)}

    def generate(self, nets, inputs) -> Tensor:
        return nets.generator(inputs["z"])

    def example_inputs(self, network: str) -> tuple[Tensor, ...]:
        if network == "generator":
            return (torch.zeros(2, self.config.latent_dim, 1, 1),)
        return super().example_inputs(network)
