"""CycleGAN (Zhu et al. 2017), the baseline paper 001 compares with (section 3.1).

Per step, generators G_ab, G_ba and PatchGAN discriminators D_a, D_b, in the reference's order:
  L_G  = (D_b(G_ab(a)) - 1)^2 + (D_a(G_ba(b)) - 1)^2                             LSGAN (section 3.1.1)
       + w_cycle * (|G_ba(G_ab(a)) - a|_1 + |G_ab(G_ba(b)) - b|_1)                 (3.1.2)
       + w_identity * (|G_ab(b) - b|_1 + |G_ba(a) - a|_1)                          (CycleGAN section 5.2)
  L_D  = 1/2 [(D(x) - 1)^2 + D(pool(G(y)))^2] for each D, fakes drawn from a 50-image history
with CycleGAN's weights (cycle 10, identity 0.5 x 10 = 5) and paper 001's shared settings (256 px,
batch 10, Adam 1e-4 with betas (0.5, 0.999), linear decay over the second half).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gankit_core import ImagePool, frozen
from gankit_core.errors import ConfigError
from gankit_core.interfaces import ConfigMigration, Model, ModelConfig, OptimizerSpec, Preset
from gankit_core.losses import least_squares
from gankit_core.translation import (
    TRANSLATION_VERSION_1,
    Translator,
    base_l1,
    check_generator_base,
    check_generator_start,
    check_paired,
    cycle_l1,
    generator_options,
    paired_l1,
)

DOMAINS = ("a", "b")


@dataclass
class CycleGANConfig(ModelConfig):
    """Paper 001 trains both models with one set of hyper-parameters (section 4.1); the loss weights and the
    pool are CycleGAN's defaults (``--lambda_A 10 --lambda_identity 0.5 --pool_size 50``)."""

    image_size: int = 256
    batch_size: int = 10
    lr: float = 0.0001  # paper 001's shared rate; CycleGAN's own is 2e-4 at batch 1
    beta1: float = 0.5
    beta2: float = 0.999
    lr_schedule: str = "linear-half"
    cycle_weight: float = 10.0
    cycle_a_scale: float = 1.0  # gankit: the a -> b -> a cycle's share of cycle_weight [paper: 1]
    identity_weight: float = 5.0  # lambda_identity 0.5 of the cycle weight
    pool_size: int = 50
    g_width: int = 64
    d_width: int = 64
    n_blocks: int = 9
    d_layers: int = 3
    residual: bool = False  # gankit: G adds its output to its input [CycleGAN: G draws the whole image]
    identity_start: bool = False  # gankit: G's last conv starts at zero, so G starts as the identity [-]
    base_a2b: str = "input"  # gankit: what a residual G_a2b adds to, e.g. "stylize", OpenCV's cartoon filter [-]
    base_b2a: str = "input"  # gankit: the same for G_b2a, e.g. "close-blur" [-]
    base_weight: float = 0.0  # gankit: L1 from each residual G's output to its base's (base_l1) [paper: -]
    residual_blur_a2b: float = 0.0  # gankit: Gaussian sigma (px at 64 px) on what a residual G_a2b adds to its base [-]
    residual_blur_b2a: float = 0.0  # gankit: the same for G_b2a [-]
    residual_shrink: float = 0.0  # gankit: at inference, grey levels cut from each residual G's correction [-]
    paired_weight: float = 0.0  # the paired oracle only: L1 to each face's twin, on paired=true data [-]
    generator: str = "resnet"
    discriminator: str = "patchgan"
    data: str = "synthetic-unpaired"

    def validate(self) -> None:
        super().validate()
        for name in ("cycle_weight", "cycle_a_scale", "identity_weight", "base_weight", "paired_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more, not {getattr(self, name)}")
        if self.pool_size < 0:
            raise ConfigError(f"pool_size must be 0 (no history) or more, not {self.pool_size}")
        check_generator_start(self)
        check_paired(self)


class CycleGAN(Translator, Model):
    """CycleGAN (Zhu et al. 2017) as paper 001's baseline: resnet-9 generators, 70x70 PatchGANs, LSGAN, cycle and
    identity losses, a 50-image history pool."""

    name = "cyclegan"
    Config = CycleGANConfig
    default_steps = 20_000  # paper 001 trains both models 200 epochs of 100 iterations
    config_version = 2
    config_migrations = {
        # Version 1: the paper's model as first built, a generator drawing the whole image, both cycles at full
        # weight. The keys below came later (a config saved in between holds some of them; only the missing ones
        # are filled), each with the value that reproduces version 1.
        1: ConfigMigration(added=TRANSLATION_VERSION_1),
    }
    presets = {
        "paper": Preset("paper 001's baseline settings (the defaults): 256 px, batch 10, 9 residual blocks, "
                        "20,000 iterations; wants a GPU"),
        "cpu": Preset("64 px, batch 8, width 32, 4 residual blocks, generators refining the classical tools (OpenCV's "
                      "cartoon filter; closing + blur + grain) with filtered corrections, 600 iterations",
                      {"steps": 600, "sample_every": 300, "image_size": 64, "batch_size": 8, "g_width": 32,
                       "d_width": 32, "n_blocks": 4, "residual": True, "identity_start": True, "base_a2b": "stylize",
                       "base_b2a": "close-blur", "base_weight": 10.0, "residual_blur_a2b": 0.8,
                       "residual_shrink": 16.0, "identity_weight": 0.0, "lr": 0.0002, "cycle_weight": 5.0,
                       "ema_decay": 0.995},
                      measured="600 it, 9 min 1 s on 2 cores; photo->cartoon KID 0.127 vs cartoon filter 0.135, "
                               "SSIM 0.754 vs 0.685, PSNR 20.50 vs 18.64 dB (docs/models/cyclegan.md)"),
    }
    sample_columns = 8  # per direction: real, translated, reconstructed, identity

    def build(self) -> dict[str, nn.Module]:
        from gankit_core import api
        from gankit_core.weights import init_weights

        c = self.config
        nets: dict[str, nn.Module] = {}
        for direction in ("a2b", "b2a"):
            nets[f"gen_{direction}"] = api.create_component(
                "generator", c.generator, image_size=c.image_size, width=c.g_width, in_channels=3, out_channels=3,
                n_blocks=c.n_blocks, **generator_options(c, direction))
            check_generator_base(c, nets[f"gen_{direction}"])
        for domain in DOMAINS:
            nets[f"disc_{domain}"] = api.create_component("discriminator", c.discriminator, image_size=c.image_size,
                                                          width=c.d_width, in_channels=3, layers=c.d_layers)
        for network in nets.values():
            network.apply(init_weights)
        for domain in DOMAINS:  # modules, so the engine moves them to the device and checkpoints them (exact resume)
            nets[f"pool_{domain}"] = ImagePool(c.pool_size, (3, c.image_size, c.image_size))
        return nets

    def optimizers(self, nets) -> dict[str, OptimizerSpec]:
        c = self.config
        betas = (c.beta1, c.beta2)
        return {
            "generator": OptimizerSpec([*nets.gen_a2b.parameters(), *nets.gen_b2a.parameters()], c.lr, betas),
            "discriminator": OptimizerSpec([*nets.disc_a.parameters(), *nets.disc_b.parameters()], c.lr, betas),
        }

    def train_step(self, nets, batch, step) -> dict[str, Tensor]:
        c = self.config
        real = {"a": batch["image"], "b": batch["image_b"]}
        out: dict[str, Tensor] = {}
        with torch.set_grad_enabled(step.train_generator), step.autocast():
            # Instance norm is per image: one pass over [source; target] gives the translation and the identity.
            fake_b, identity_b = nets.gen_a2b(torch.cat([real["a"], real["b"]])).chunk(2)
            fake_a, identity_a = nets.gen_b2a(torch.cat([real["b"], real["a"]])).chunk(2)
        fake = {"a": fake_a, "b": fake_b}
        if step.train_generator:
            discriminators = nn.ModuleList([nets.disc_a, nets.disc_b])
            with frozen(discriminators), step.autocast():
                reconstructed = {"a": nets.gen_b2a(fake_b), "b": nets.gen_a2b(fake_a)}
                identity = {"a": identity_a, "b": identity_b}
                adversarial = sum(least_squares(nets[f"disc_{d}"](fake[d]), 1) for d in DOMAINS)
                cycle = cycle_l1(reconstructed, real, c.cycle_a_scale)
                identity_loss = sum((identity[d].float() - real[d].float()).abs().mean() for d in DOMAINS)
                loss_g = adversarial + c.cycle_weight * cycle + c.identity_weight * identity_loss
                if c.base_weight:
                    moved = base_l1(nets, real, fake)
                    loss_g = loss_g + c.base_weight * moved
                    out["loss_base"] = moved.detach()
                if c.paired_weight:
                    paired = paired_l1(fake, real)
                    loss_g = loss_g + c.paired_weight * paired
                    out["loss_paired"] = paired.detach()
            step.optimize("generator", loss_g)
            out.update(loss_g=loss_g.detach(), loss_adv=adversarial.detach(), loss_cycle=cycle.detach(),
                       loss_identity=identity_loss.detach())
        with step.autocast():
            loss_d = 0.0
            real_scores, fake_scores = [], []
            for domain in DOMAINS:
                history = nets[f"pool_{domain}"].query(fake[domain].detach())
                # Instance norm is per image, so real and fake share one pass of the same maths.
                logits = nets[f"disc_{domain}"](torch.cat([real[domain], history.to(real[domain].dtype)]))
                real_logits, fake_logits = logits.chunk(2)
                loss_d = loss_d + 0.5 * (least_squares(real_logits, 1) + least_squares(fake_logits, 0))
                real_scores.append(real_logits.detach().float().mean())
                fake_scores.append(fake_logits.detach().float().mean())
        step.optimize("discriminator", loss_d)
        out.update(loss_d=loss_d.detach(), real_score=torch.stack(real_scores).mean(),
                   fake_score=torch.stack(fake_scores).mean())
        return out

    # ------------------------------------------------------------------------------- inference
    def sample(self, nets, inputs) -> Tensor:
        columns = []
        for source, there, back in ((inputs["a"], nets.gen_a2b, nets.gen_b2a), (inputs["b"], nets.gen_b2a, nets.gen_a2b)):
            translated = there(source)
            columns += [source.float(), translated.float(), back(translated).float(), back(source).float()]
        return torch.stack(columns, 1).flatten(0, 1)
