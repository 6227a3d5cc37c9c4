"""Paper 001's modified CycleGAN (U-GAT-IT-style): CAM attention and AdaLIN in both generators, a global and a
local discriminator with CAM for each domain.

Per step, for the generators G_ab, G_ba and discriminators D_a, D_b (each global + local), in the
standard LSGAN and BCE forms (paper 001 prints them with real and fake swapped; docs/models/ugatit.md):
  L_D   = sum over D in {D_a, D_b}, global and local: (D(x_real) - 1)^2 + D(G(x_src))^2,
          and the same on D's CAM logit                                          (3.2.4, 3.2.7)
  L_G   = w_gan * [(D(G(x)) - 1)^2 + (D_cam(G(x)) - 1)^2] over the four D
        + w_cycle * |G_ts(G_st(x)) - x|_1 + w_identity * |G_st(x_t) - x_t|_1
        + w_cam * [BCE(eta_s(x_s), 1) + BCE(eta_s(x_t), 0)]                      (3.2.5 - 3.2.7)
with Table 2's weights (GAN 1, cycle 10, identity 10, CAM 100), Adam 1e-4 (0.5, 0.999), weight decay
1e-4, linear decay to 0 over the second half, and rho clipped to [0, 1] after every generator step.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit_core import frozen
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
    overlay_heatmap,
    paired_l1,
)

DOMAINS = ("a", "b")
SCALES = ("global", "local")


@dataclass
class UGATITConfig(ModelConfig):
    """Defaults are paper 001's Table 2 and section 4 (and U-GAT-IT's where the paper gives none)."""

    image_size: int = 256
    batch_size: int = 10
    lr: float = 0.0001
    beta1: float = 0.5  # U-GAT-IT's Adam betas (the paper gives none)
    beta2: float = 0.999
    weight_decay: float = 0.0001
    lr_schedule: str = "linear-half"  # the "adaptive learning rate": CycleGAN's linear decay over the second half
    gan_weight: float = 1.0
    cycle_weight: float = 10.0
    cycle_a_scale: float = 1.0  # gankit: the a -> b -> a cycle's share of cycle_weight [paper: 1]
    identity_weight: float = 10.0
    cam_weight: float = 100.0  # paper 001 Table 2; U-GAT-IT uses 1000
    g_width: int = 64
    d_width: int = 64
    n_blocks: int = 4  # paper 001 reduces CycleGAN's 9 residual blocks to 4
    light: bool = True  # the pooled gamma/beta MLP: the variant whose size Table 1 gives (10.59M)
    global_layers: int = 7
    local_layers: int = 5
    residual: bool = False  # gankit: G adds its output to its input [paper: G draws the whole image]
    identity_start: bool = False  # gankit: G's last conv starts at zero, so G starts as the identity [paper: -]
    base_a2b: str = "input"  # gankit: what a residual G_a2b adds to, e.g. "stylize", OpenCV's cartoon filter [-]
    base_b2a: str = "input"  # gankit: the same for G_b2a, e.g. "close-blur" [-]
    base_weight: float = 0.0  # gankit: L1 from each residual G's output to its base's (base_l1) [paper: -]
    residual_blur_a2b: float = 0.0  # gankit: Gaussian sigma (px at 64 px) on what a residual G_a2b adds to its base [-]
    residual_blur_b2a: float = 0.0  # gankit: the same for G_b2a [-]
    residual_shrink: float = 0.0  # gankit: at inference, grey levels cut from each residual G's correction [-]
    paired_weight: float = 0.0  # the paired oracle only: L1 to each face's twin, on paired=true data [paper: -]
    generator: str = "ugatit"
    discriminator: str = "ugatit"
    data: str = "synthetic-unpaired"

    def validate(self) -> None:
        super().validate()
        for name in ("gan_weight", "cycle_weight", "cycle_a_scale", "identity_weight", "cam_weight", "weight_decay",
                     "base_weight", "paired_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more, not {getattr(self, name)}")
        check_generator_start(self)
        check_paired(self)


def domain_classification(logits: Tensor, target: float) -> Tensor:
    """The generator's CAM loss: BCE on the auxiliary classifier's logits (source 1, target domain 0)."""
    return F.binary_cross_entropy_with_logits(logits.float(), torch.full_like(logits, target, dtype=torch.float32))


class UGATIT(Translator, Model):
    """Paper 001's modified CycleGAN (after U-GAT-IT, Kim et al. 2019): generators with CAM attention and AdaLIN,
    global and local spectral-norm discriminators with CAM, LSGAN + cycle + identity + CAM losses."""

    name = "ugatit"
    Config = UGATITConfig
    default_steps = 20_000  # section 4.4.1: 200 epochs of 100 iterations
    config_version = 2
    config_migrations = {
        # Version 1: the paper's model as first built, a generator drawing the whole image, both cycles at full
        # weight. The keys below came later (a config saved in between holds some of them; only the missing ones
        # are filled), each with the value that reproduces version 1.
        1: ConfigMigration(added=TRANSLATION_VERSION_1),
    }
    presets = {
        "paper": Preset("paper 001's Table 2 settings (the defaults): 256 px, batch 10, 20,000 iterations; wants a GPU"),
        "cpu": Preset("64 px, batch 8, generator width 32 (discriminators 16), generators refining the classical "
                      "tools (OpenCV's cartoon filter; closing + blur + grain) with filtered corrections held near "
                      "them, 600 iterations",
                      {"steps": 600, "sample_every": 300, "image_size": 64, "batch_size": 8, "g_width": 32,
                       "d_width": 16, "global_layers": 6, "local_layers": 5, "residual": True, "identity_start": True,
                       "base_a2b": "stylize", "base_b2a": "close-blur", "base_weight": 40.0, "residual_blur_a2b": 0.8,
                       "residual_shrink": 16.0, "identity_weight": 0.0,
                       "lr": 0.0002, "cam_weight": 10.0, "cycle_weight": 5.0, "ema_decay": 0.995},
                      measured="600 it, 11 min 21 s on 2 cores; photo->cartoon KID 0.123 vs cartoon filter 0.135, "
                               "SSIM 0.735 vs 0.685, PSNR 20.13 vs 18.64 dB; cartoon->photo KID 0.126 vs 0.128 "
                               "(docs/models/ugatit.md)"),
    }
    # Per direction: real, its CAM heatmap overlaid, translated, reconstructed, identity (paper 001 Figure 5).
    sample_columns = 10

    def build(self) -> dict[str, nn.Module]:
        from gankit_core import api

        c = self.config
        nets: dict[str, nn.Module] = {}
        for direction in ("a2b", "b2a"):
            nets[f"gen_{direction}"] = api.create_component(
                "generator", c.generator, image_size=c.image_size, width=c.g_width, in_channels=3, out_channels=3,
                n_blocks=c.n_blocks, light=c.light, **generator_options(c, direction))
            if not hasattr(nets[f"gen_{direction}"], "translate_with_attention"):  # else it fails at the first step
                raise ConfigError(f"generator '{c.generator}' has no CAM attention (translate_with_attention), which "
                                  "ugatit's CAM loss needs: use generator=ugatit, or model cyclegan for a plain one")
            check_generator_base(c, nets[f"gen_{direction}"])
        for domain in DOMAINS:
            for scale, layers in zip(SCALES, (c.global_layers, c.local_layers), strict=True):
                nets[f"disc_{scale}_{domain}"] = api.create_component(
                    "discriminator", c.discriminator, image_size=c.image_size, width=c.d_width, in_channels=3,
                    layers=layers)
        return nets

    def optimizers(self, nets) -> dict[str, OptimizerSpec]:
        from gankit_adalin.layers import clip_rho

        c = self.config
        betas = (c.beta1, c.beta2)
        generators = [p for name in ("gen_a2b", "gen_b2a") for p in nets[name].parameters()]
        discriminators = [p for name in self._discriminators() for p in nets[name].parameters()]
        return {
            "discriminator": OptimizerSpec(discriminators, c.lr, betas, weight_decay=c.weight_decay),
            "generator": OptimizerSpec(generators, c.lr, betas, weight_decay=c.weight_decay,
                                       after_step=partial(clip_rho, nets.gen_a2b, nets.gen_b2a)),
        }

    @staticmethod
    def _discriminators() -> list[str]:
        return [f"disc_{scale}_{domain}" for domain in DOMAINS for scale in SCALES]

    def train_step(self, nets, batch, step) -> dict[str, Tensor]:
        c = self.config
        real = {"a": batch["image"], "b": batch["image_b"]}
        n = real["a"].shape[0]
        with step.autocast():
            # Instance norm and AdaLIN are per image, so one pass over [source; target] is the same maths as two
            # and gives the translation and the identity mapping together. The generators do not change during
            # the discriminator step, so these passes serve both steps (the public code runs them twice).
            fake_b, identity_b, cam_ab = self._both(nets.gen_a2b, real["a"], real["b"])
            fake_a, identity_a, cam_ba = self._both(nets.gen_b2a, real["b"], real["a"])
            fake = {"a": fake_a, "b": fake_b}
            loss_d = 0.0
            scores = {}
            for domain in DOMAINS:
                for scale in SCALES:
                    logits, cam_logits, _ = nets[f"disc_{scale}_{domain}"](torch.cat([real[domain], fake[domain].detach()]))
                    real_logits, fake_logits = logits.chunk(2)
                    real_cam, fake_cam = cam_logits.chunk(2)
                    loss_d = loss_d + (least_squares(real_logits, 1) + least_squares(fake_logits, 0)
                                       + least_squares(real_cam, 1) + least_squares(fake_cam, 0))
                    if scale == "global":
                        scores.setdefault("real", []).append(real_logits.detach().float().mean())
                        scores.setdefault("fake", []).append(fake_logits.detach().float().mean())
            loss_d = c.gan_weight * loss_d
        step.optimize("discriminator", loss_d)
        out = {"loss_d": loss_d.detach(), "real_score": torch.stack(scores["real"]).mean(),
               "fake_score": torch.stack(scores["fake"]).mean()}
        if not step.train_generator:
            return out
        discriminators = nn.ModuleList(nets[name] for name in self._discriminators())
        with frozen(discriminators), step.autocast():
            reconstructed = {"a": nets.gen_b2a(fake_b), "b": nets.gen_a2b(fake_a)}
            identity = {"a": identity_a, "b": identity_b}
            adversarial = 0.0
            for domain in DOMAINS:
                for scale in SCALES:
                    logits, cam_logits, _ = nets[f"disc_{scale}_{domain}"](fake[domain])
                    adversarial = adversarial + least_squares(logits, 1) + least_squares(cam_logits, 1)
            cycle = cycle_l1(reconstructed, real, c.cycle_a_scale)
            identity_loss = sum((identity[d].float() - real[d].float()).abs().mean() for d in DOMAINS)
            # eta_s: the generator's CAM tells its source domain (1) from its target domain (0).
            cam = sum(domain_classification(logits[:n], 1) + domain_classification(logits[n:], 0)
                      for logits in (cam_ab, cam_ba))
            loss_g = (c.gan_weight * adversarial + c.cycle_weight * cycle + c.identity_weight * identity_loss
                      + c.cam_weight * cam)
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
                   loss_identity=identity_loss.detach(), loss_cam=cam.detach())
        return out

    @staticmethod
    def _both(generator: nn.Module, source: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(translation of ``source``, identity mapping of ``target``, CAM logits of [source; target])."""
        images, cam_logits, _ = generator.translate_with_attention(torch.cat([source, target]))
        translated, identity = images.chunk(2)
        return translated, identity, cam_logits

    # ------------------------------------------------------------------------------- inference
    def sample(self, nets, inputs) -> Tensor:
        columns = []
        for source, there, back in ((inputs["a"], nets.gen_a2b, nets.gen_b2a), (inputs["b"], nets.gen_b2a, nets.gen_a2b)):
            translated, _, heatmap = there.translate_with_attention(source)
            columns += [source.float(), overlay_heatmap(source, heatmap), translated.float(),
                        back(translated).float(), back(source).float()]
        return torch.stack(columns, 1).flatten(0, 1)

