"""CREGAN (paper 000): exchange a region between two faces, make it seamless with a GAN.

Per iteration (Algorithm 1) a mouth phase, then an eye phase:
  Eq. 1  X'_i = X_i (1 - M) + X_j M,  X'_j = X_j (1 - M) + X_i M    (M: 1 in the exchange area)
  Eq. 2  R_i = G(X'_i) (1 - M) + G(X'_j) M,  R_j likewise          (exchange the results back)
  Eq. 3  L_rec = |G(R_i) - X_i|_1 + |G(R_j) - X_j|_1                (through the same G)
  Eq. 5  L_D = E[D(G(X'), LM)] - E[D(X, LM)] + lambda_gp GP         (standard WGAN-GP signs)
  Eq. 6  L_G = -E[D(G(X'), LM)] + lambda_rec L_rec                  (with the text's reconstruction term)
D is updated every phase and G on every ``n_critic``-th iteration (the paper's trainG = 3; gankit's default
trains G every iteration, see below). See docs/models/cregan.md for every reading of the paper's ambiguities.

Where G's output is used (a gankit deviation, config ``composite``): the paper uses G's whole image
("whole"); by default G's output is used only inside the exchange area grown by a feathered band of
``band`` pixels, the rest copied from G's input, as Iizuka et al.'s completion network (whose
architecture Table I follows) uses its output only in the area it completes:
  G~(X') = X' (1 - F) + G(X') F    (F: 1 in the exchange area, falling linearly to 0 over ``band`` px)
G~ replaces G everywhere above (Eq. 2, 3, 5, 6 and inference). G trains every iteration (``n_critic`` 1, the
paper's trainG is 3): starting at the paste, G gets 3x the updates in the same time, and against the true
exchange that measured 1.5-2 dB ahead of trainG 3 at make run's budget (docs/models/cregan.md).

What G refines (a gankit deviation, config ``blend``): the paper's X' is Eq. 1's paste ("paste"); with
"poisson" or "poisson-mixed" X' is that paste Poisson-blended into its face, exactly as OpenCV's seamlessClone
blends it (``gankit_cregan.poisson``, differentiable), in Eq. 1 and in Eq. 2's exchange back alike. With G's
identity start, G~ then starts at the classical tool's output instead of the paste.

A training signal that needs no truth (a gankit addition, config ``harmonize_weight``): over a Poisson blend the
critic finds nothing to tell fakes from reals, so beside Eq. 6 G is also trained to restore a face X from X's own
exchange area recoloured onto its partner's tone and blended back the same way (``gankit_cregan.harmonize``):
  L_harm = |G~(P(X, T(X, X_j))) - X|_1   (P: the blend G refines, T: X's area moved onto X_j's Lab mean and spread)
  L_G = -E[D(G~(X'), LM)] + lambda_rec L_rec + lambda_idt |G~(X') - X'|_1 + lambda_harm L_harm
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor, nn

from gankit_core import frozen
from gankit_core.errors import ConfigError
from gankit_core.interfaces import ConfigMigration, Model, ModelConfig, OptimizerSpec, Preset
from gankit_cregan.exchange import exchange, exchange_masks, feather_mask

REGIONS = ("mouth", "eyes")  # Algorithm 1's order within an iteration
BOX_FIELDS = {"eyes": "eye_box", "mouth": "mouth_box"}
BLENDS = ("paste", "poisson", "poisson-mixed")  # what G refines: Eq. 1's paste or a Poisson blend of it


@dataclass
class CREGANConfig(ModelConfig):
    """Defaults from paper 000, section IV.B (image size and loss weights are not given there)."""

    image_size: int = 128
    batch_size: int = 16
    n_critic: int = 1  # G trains every n_critic-th iteration [trainG = 3]
    lr: float = 0.001  # the critic's; the generator's is g_lr
    g_lr: float = 0.0002  # [0.001, as the critic's]
    beta1: float = 0.5
    beta2: float = 0.9
    lr_schedule: str = "step:100:0.9"
    gamma: float = 0.9  # Eq. 4
    k: float = 1.0  # Eq. 4
    gp_weight: float = 10.0  # lambda_gp (WGAN-GP's value; the paper gives none)
    rec_weight: float = 10.0  # lambda_rec (CycleGAN's cycle weight; the paper gives none)
    regions: str = "alternate"  # "alternate" (mouth then eyes, Algorithm 1), "eyes" or "mouth"
    # gankit deviations from the paper (docs/models/cregan.md measures each); the paper's values in brackets.
    blend: str = "poisson-mixed"  # the classical composite G refines: paste (Eq. 1), poisson, poisson-mixed ["paste"]
    composite: str = "band"  # where G's output is used: "band" (exchange area + feathered band) ["whole"]
    fade: int = 3  # G's change fades to 0 over this many pixels inside the area's edge, at 64 px (0: none) [-]
    g_warmup: int = 0  # iterations the critic trains alone before G's first update [0]
    idt_weight: float = 100.0  # L1 weight on G's change to its input (CycleGAN's identity term) [0]
    # L1 weight of the self-supervised harmonisation task (gankit_cregan.harmonize: a face's own area recoloured
    # onto its partner's tone, blended back as G's inputs are, G asked to restore the face) [0]
    harmonize_weight: float = 1000.0
    band: int = 0  # the feathered band's width in pixels at 64 px, scaled with the image size (0: none) [-]
    smooth: int = 0  # G's change to its input is box-blurred over this many pixels at 64 px (0: none) [0]
    residual: bool = True  # G predicts a correction added to its input [False: G predicts the image]
    identity_start: bool = True  # the residual's last conv starts at zero, so G starts as the identity [-]
    g_width: int = 64
    d_width: int = 64
    generator: str = "dilated"
    discriminator: str = "global-local"

    def validate(self) -> None:
        super().validate()
        if self.regions not in ("alternate", *REGIONS):
            raise ConfigError(f"regions must be alternate, eyes or mouth, not {self.regions!r}")
        if self.batch_size < 2:
            raise ConfigError("cregan exchanges regions between faces of a batch: batch_size must be at least 2")
        if self.blend not in BLENDS:
            raise ConfigError(f"blend must be one of {', '.join(BLENDS)}, not {self.blend!r}")
        if self.composite not in ("band", "whole"):
            raise ConfigError(f"composite must be band or whole, not {self.composite!r}")
        if self.band < 0 or self.smooth < 0:
            raise ConfigError(f"band and smooth must be 0 or more pixels, not {self.band} and {self.smooth}")
        if self.identity_start and not self.residual:
            raise ConfigError("identity_start needs residual=true: only a residual generator can start as the identity")
        if self.harmonize_weight < 0:
            raise ConfigError(f"harmonize_weight must be 0 or more, not {self.harmonize_weight}")
        if self.g_lr <= 0:
            raise ConfigError(f"g_lr must be positive, not {self.g_lr}")


def inner_distance(boxes_a: Tensor, boxes_b: Tensor, size: int) -> Tensor:
    """N x 1 x S x S: 1 on the exchange area's edge pixels, 2 one pixel in, ...; 0 outside (per box, the larger)."""
    coords = torch.arange(size, dtype=torch.float32)

    def inside(boxes: Tensor) -> Tensor:
        boxes = torch.as_tensor(boxes, dtype=torch.float32)
        x0, y0, x1, y1 = (boxes[:, i, None] for i in range(4))
        dx = torch.minimum(coords - x0, x1 - 1 - coords) + 1  # N x W, <= 0 outside
        dy = torch.minimum(coords - y0, y1 - 1 - coords) + 1
        return torch.minimum(dy[:, :, None], dx[:, None, :]).clamp_min(0).unsqueeze(1)

    return torch.maximum(inside(boxes_a), inside(boxes_b))


class CREGAN(Model):
    """CREGAN, Cycle-Consistent Region Exchange GAN (paper 000): dilated generator, global-local critic,
    WGAN-GP, reconstruction cycle, mouth/eye alternation (Algorithm 1)."""

    name = "cregan"
    Config = CREGANConfig
    batch_fields = ("image", "eye_box", "mouth_box")
    default_steps = 1000  # T_train
    sample_needs_data = True
    sample_columns = 4  # face A, face B, the blend G refines (Eq. 1 paste or Poisson: `blend`), G's exchange
    own_metrics = ("exchange",)
    default_metrics = ("exchange",)
    # Measured with gankit bench on a 2-core AVX512-BF16 CPU at 64 px: NHWC made the step 1.3x slower (the
    # critic's 4x4 convs on 1-4 px maps dominate), so the engine keeps NCHW here on CPUs.
    channels_last_on_cpu = False
    presets = {
        "paper": Preset("paper 000's sizes and schedule (128 px, batch 16, 1000 iterations) with gankit's measured "
                        "deviations: the defaults; wants a GPU",
                        measured="40 iterations in an hour on one thread of the 2-core CPU (85 s each), G already "
                                 "ahead of the paste on both regions (docs/models/cregan.md)"),
        "cpu": Preset("make run's reduced CREGAN: 64 px, batch 8, quarter-size networks, 150 iterations, G refining "
                      "OpenCV's mixed Poisson blend",
                      {"steps": 150, "image_size": 64, "batch_size": 8, "g_width": 32, "d_width": 32,
                       "sample_every": 50},
                      measured="150 it, 2 min 47 s on 2 cores (make run from a clean clone); eyes 30.25 dB vs "
                               "Poisson mixed 29.74 (paste 21.30), mouth 41.93 vs 41.92 (paste 31.43) "
                               "(docs/models/cregan.md)"),
    }
    config_version = 4
    config_migrations = {
        # Version 1: every config saved before versions were recorded. The first CREGAN had G predict the whole
        # image from a random start, at the critic's rate, used everywhere (the paper's form); the keys below came
        # later, and a config saved in between already holds some of them (only the missing ones are filled).
        # n_critic was always saved (it is a ModelConfig field), so its old default of 3 needs no filling.
        1: ConfigMigration(added={"g_lr": lambda old: old["lr"], "composite": "whole", "band": 0, "residual": False,
                                  "identity_start": False, "smooth": 0}),
        # Version 2: before G refined a Poisson blend. G refined the plain paste with no fade, no critic-only
        # warm-up and no identity term; these values reproduce it exactly.
        2: ConfigMigration(added={"blend": "paste", "fade": 0, "g_warmup": 0, "idt_weight": 0.0}),
        # Version 3: before the harmonisation task. Its other changes (smooth 5 -> 0, g_warmup 50 -> 0) are defaults
        # of keys every version-3 config holds, so only the new key needs its old value.
        3: ConfigMigration(added={"harmonize_weight": 0.0}),
    }

    def build(self) -> dict[str, nn.Module]:
        from gankit_core import api

        c = self.config
        self.local_mask = api.create_component("layer", "local-mask", gamma=c.gamma, k=c.k)
        options = {"residual": True, "identity_start": c.identity_start} if c.residual else {}
        return {
            "generator": api.create_component("generator", c.generator, width=c.g_width, image_size=c.image_size,
                                              **options),
            "discriminator": api.create_component("discriminator", c.discriminator, width=c.d_width,
                                                  image_size=c.image_size),
        }

    def optimizers(self, nets) -> dict[str, OptimizerSpec]:
        betas = (self.config.beta1, self.config.beta2)
        return {"discriminator": OptimizerSpec(nets.discriminator.parameters(), self.config.lr, betas),
                "generator": OptimizerSpec(nets.generator.parameters(), self.config.g_lr, betas)}

    def band_pixels(self, size: int) -> float:
        """The feathered band's width at this image size (``band`` is given at 64 px)."""
        return self.config.band * size / 64

    def composite_mask(self, boxes_a: Tensor, boxes_b: Tensor, size: int) -> Tensor | None:
        """F, where G's output replaces its input; None when the whole image is G's (the paper)."""
        if self.config.composite == "whole":
            return None
        mask = feather_mask(boxes_a, boxes_b, size, self.band_pixels(size))
        if self.config.fade:
            fade = self.config.fade * size / 64
            mask = mask * (inner_distance(boxes_a, boxes_b, size) / (fade + 1)).clamp(0, 1)
        return mask

    @cached_property
    def poisson(self) -> nn.Module | None:
        """The Poisson blending layer G refines (``blend``), None for the paper's paste (Eq. 1)."""
        from gankit_core import api

        if self.config.blend == "paste":
            return None
        return api.create_component("layer", "poisson-blend", mixed=self.config.blend == "poisson-mixed")

    def blended(self, targets: Tensor, pasted: Tensor, mask: Tensor) -> Tensor:
        """``pasted`` (``targets`` with other content where ``mask`` is 1) as G refines it: the paste itself (Eq. 1)
        or Poisson-blended into ``targets`` (``blend``)."""
        if self.poisson is None:
            return pasted
        return self.poisson(targets, pasted, mask).to(pasted.dtype)

    def exchanged(self, a: Tensor, b: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """What G refines: a with b's region and b with a's, pasted (Eq. 1) or Poisson-blended (``blend``)."""
        return self.blended(torch.cat([a, b]), torch.cat(exchange(a, b, mask)), torch.cat([mask, mask])).chunk(2)

    def harmonization_loss(self, generator: nn.Module, real: Tensor, partner: Tensor, mask: Tensor,
                           composite: Tensor | None) -> Tensor:
        """L1 between a face and G~'s output for that face with its own area recoloured onto the partner's tone and
        blended back (``gankit_cregan.harmonize``): a task with a known answer, on the inputs G sees."""
        from gankit_cregan.harmonize import recolour_area

        with torch.no_grad():
            inputs = self.blended(real, recolour_area(real, partner, mask), mask)
        restored = self.generate_composed(generator, inputs, composite)
        return (restored.float() - real.float()).abs().mean()

    def generate_composed(self, generator: nn.Module, inputs: Tensor, composite: Tensor | None) -> Tensor:
        """G~(X') = X' + F S(G(X') - X'): G's change to its input, low-passed by S (a ``smooth``-pixel box blur;
        none at 0) and used where F is 1; with the paper's whole-image output, S(G(X') - X') + X' everywhere."""
        out = generator(inputs)
        if composite is None and not self.config.smooth:
            return out
        change = out - inputs.to(out.dtype)
        width = round(self.config.smooth * inputs.shape[-1] / 64) // 2 * 2 + 1  # odd, so the blur keeps the size
        if width > 1:
            change = nn.functional.avg_pool2d(change, width, 1, width // 2, count_include_pad=False)
        return inputs.to(out.dtype) + (change if composite is None else change * composite.to(out.dtype))

    def train_step(self, nets, batch, step) -> dict[str, Tensor]:
        regions = REGIONS if self.config.regions == "alternate" else (self.config.regions,)
        scalars: dict[str, Tensor] = {}
        for region in regions:
            for key, value in self._phase(nets, batch, step, region).items():
                scalars[key] = scalars.get(key, 0) + value / len(regions)  # the phases' mean
        return scalars

    def _phase(self, nets, batch, step, region: str) -> dict[str, Tensor]:
        real = batch["image"]
        boxes = batch[BOX_FIELDS[region]]
        train_generator = step.train_generator and step.index >= self.config.g_warmup
        n, size = real.shape[0], real.shape[-1]
        partner = torch.argsort(step.rand(n))  # Algorithm 1, line 4: a random permutation of the batch
        mask, union = exchange_masks(boxes, boxes[partner], size)
        mask = mask.to(real.dtype)
        composite = self.composite_mask(boxes, boxes[partner], size)
        composite = None if composite is None else torch.cat([composite, composite]).to(real.device)
        local = self.local_mask(union, size).to(real.device)
        local2 = torch.cat([local, local])
        reals = torch.cat([real, real[partner]])
        with step.autocast():
            inputs = torch.cat(self.exchanged(real, real[partner], mask))  # Eq. 1: X'_i, X'_j (blended)
            with torch.set_grad_enabled(train_generator):  # D-only iterations keep no graph through G
                fakes = self.generate_composed(nets.generator, inputs, composite)
            # One critic pass over real and fake: instance norm is per image, so this is the same maths as two
            # passes, and the critic's 56M weights are read (and cast) once. The penalty runs inside the same
            # autocast region so it reuses those cast weights.
            scores = nets.discriminator(torch.cat([reals, fakes.detach()]), torch.cat([local2, local2])).float()
            critic_real, critic_fake = scores.chunk(2)
            loss_d = critic_fake.mean() - critic_real.mean()  # Eq. 5 in WGAN-GP's sign convention
            penalty = step.gradient_penalty(nets.discriminator, reals, fakes, local2)
        step.optimize("discriminator", loss_d + self.config.gp_weight * penalty)
        out = {"loss_d": loss_d.detach(), "gp": penalty.detach(),
               "real_score": critic_real.detach().mean(), "fake_score": critic_fake.detach().mean()}
        if train_generator:
            with frozen(nets.discriminator), step.autocast():
                adversarial = -nets.discriminator(fakes, local2).float().mean()  # Eq. 6
                fake_i, fake_j = fakes.chunk(2)
                back = torch.cat(self.exchanged(fake_i, fake_j, mask))  # Eq. 2 (blended as Eq. 1)
                restored = self.generate_composed(nets.generator, back, composite)
                reconstruction = (restored.float() - reals.float()).abs().mean()  # Eq. 3
                loss_g = adversarial + self.config.rec_weight * reconstruction
                if self.config.idt_weight:
                    loss_g = loss_g + self.config.idt_weight * (fakes.float() - inputs.float()).abs().mean()
                if self.config.harmonize_weight:
                    harmonization = self.harmonization_loss(nets.generator, real, real[partner], mask,
                                                            None if composite is None else composite[:n])
                    loss_g = loss_g + self.config.harmonize_weight * harmonization
                    out["loss_harmonize"] = harmonization.detach()
            step.optimize("generator", loss_g)
            out.update(loss_g=loss_g.detach(), loss_adv=adversarial.detach(), loss_rec=reconstruction.detach())
        return out

    # ------------------------------------------------------------------------------- inference
    def sample_inputs(self, n, batch, generator) -> dict[str, Tensor]:
        images = batch["image"][:n]  # n pairs: face i with face i - 1
        order = torch.roll(torch.arange(images.shape[0]), 1)
        region_is_eyes = torch.arange(images.shape[0]) % 2 == 0  # alternate rows: eyes, mouth
        boxes = torch.where(region_is_eyes[:, None], batch["eye_box"][:n], batch["mouth_box"][:n])
        # B's box of the same region as A's row (B's own row may show the other region)
        boxes_b = torch.where(region_is_eyes[:, None], batch["eye_box"][:n][order], batch["mouth_box"][:n][order])
        return {"a": images, "b": images[order], "boxes_a": boxes, "boxes_b": boxes_b}

    def swap(self, nets, a: Tensor, b: Tensor, boxes_a: Tensor, boxes_b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(A with B's region, B with A's region, the exchange mask) from G~ (G composed as in training)."""
        size = a.shape[-1]
        mask, _ = exchange_masks(boxes_a, boxes_b, size)
        mask = mask.to(a.device, a.dtype)
        pasted_a, pasted_b = self.exchanged(a, b, mask)
        composite = self.composite_mask(boxes_a, boxes_b, size)
        composite = None if composite is None else torch.cat([composite, composite]).to(a.device)
        generated = self.generate_composed(nets.generator, torch.cat([pasted_a, pasted_b]), composite)
        out_a, out_b = generated.chunk(2)
        return out_a, out_b, mask

    def generate(self, nets, inputs) -> Tensor:
        swapped, _, _ = self.swap(nets, inputs["a"], inputs["b"], inputs["boxes_a"], inputs["boxes_b"])
        return swapped.clamp(-1, 1)  # a Poisson blend can overshoot the image range, as OpenCV's does before it clips

    def sample(self, nets, inputs) -> Tensor:
        a, b = inputs["a"], inputs["b"]
        swapped, _, mask = self.swap(nets, a, b, inputs["boxes_a"], inputs["boxes_b"])
        pasted, _ = self.exchanged(a, b, mask)
        rows = torch.stack([a, b, pasted.clamp(-1, 1), swapped.to(a.dtype).clamp(-1, 1)], dim=1)  # A, B, blend, G
        return rows.flatten(0, 1)

    def example_inputs(self, network: str) -> tuple[Tensor, ...]:
        size = self.config.image_size
        if network == "discriminator":
            return (torch.zeros(2, 3, size, size), torch.ones(2, 1, size, size))
        return (torch.zeros(2, 3, size, size),)

    def evaluate(self, evaluation) -> dict[str, float]:
        from gankit_cregan.evaluation import evaluate_exchange

        loaded = evaluation.loaded
        return evaluate_exchange(self, loaded.nets, loaded.device, count=evaluation.count, seed=evaluation.seed,
                                 data=evaluation.data)
