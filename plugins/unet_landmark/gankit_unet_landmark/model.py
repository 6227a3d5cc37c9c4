"""Facial expression transfer (paper 003): the source's expression on the target's face, in two stages.

Stage ``fusion`` (section V.B, 400 epochs) trains Phi, the landmark fusion autoencoder, against D_J:
  Eq. 1  J_gen = L_t + Phi(L_t, L_s)                          (target landmarks wearing the source's expression)
  Eq. 3  L_DJ = E[log D_J(J_o)] + E[log(1 - D_J(J_gen))]     (BCE with logits; the non-saturating G side)
  Eq. 4  L_cyc = |Phi(J_s, J_gen) - L_s|_1                    (J_s: the source's identity, neutral)
  Eq. 5  L_L1 = |J_gen - J_o|_1                               (J_o: the target's true landmarks with the expression)
  Eq. 6  L_Phi = 0.1 L_DJ + 10 L_cyc + 100 L_L1
Stage ``transfer`` (120 epochs) freezes Phi and trains the U-Net Omega against the PatchGAN D_I:
  Eq. 2  I_gen = Omega(P_t, J_gen)                            (4 channels in: the target image and J_gen)
  Eq. 7  L_cGAN = E[log D_I(P_t, I_o)] + E[log(1 - D_I(P_t, I_gen))]   (per 30 x 30 patch, averaged)
  Eq. 8  L_pix = |I_gen - I_o|_1
  Eq. 9  L_Omega = 1 L_cGAN + 100 L_pix
With ``fusion = false`` there is only the transfer stage and Omega reads the source's own landmarks L_s: the
pix2pix-style baseline the paper compares with. docs/models/expression.md gives every reading of the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gankit_core import frozen
from gankit_core.errors import ConfigError
from gankit_core.interfaces import ConfigMigration, Model, ModelConfig, OptimizerSpec, Preset, Stage

FUSION, TRANSFER = "fusion", "transfer"
# The U-Net's pixel loss. "l1": Eq. 8, the mean absolute error over the batch: every wrong pixel weighs the same
# whatever its image, so the triples with a large change of expression (many wrong pixels) take most of the
# gradient. "log-mse": the mean over images of
# ln(MSE + 1e-6) / 100, which is minus each image's PSNR up to constants: the figure the evaluation averages. Its
# gradient on an image is its error over that image's own MSE, so a triple the warp already gets nearly right
# weighs as much as one it gets badly wrong. The / 100 makes mu_pix = 100 weigh it about as Eq. 8's L1 on an image
# at 40 dB (a gankit option; docs/models/expression.md).
PIXEL_LOSSES = ("l1", "log-mse")
LOG_MSE_FLOOR = 1e-6  # 66 dB for images in [-1, 1]: a bound on the weight an already-exact image can take


@dataclass
class ExpressionConfig(ModelConfig):
    """Defaults from paper 003, section V.B (network widths and the landmark drawing are gankit's)."""

    image_size: int = 256
    batch_size: int = 8
    data: str = "synthetic-expression"
    fusion: bool = True  # false: the U-Net reads the source's landmarks directly (the pix2pix-style baseline)
    fusion_epochs: int = 400  # stage 1, the facial feature point fusion module
    transfer_epochs: int = 120  # stage 2, the expression transfer module
    fusion_steps: int = 0  # when set, stage 1 runs this many steps instead of fusion_epochs
    transfer_steps: int = 0  # likewise for stage 2
    g_lr: float = 0.0002  # both generators: Phi and the U-Net
    d_lr: float = 0.0001  # both discriminators: D_J and the PatchGAN
    beta1: float = 0.5
    beta2: float = 0.999
    lambda_adv: float = 0.1  # Eq. 6
    lambda_cycle: float = 10.0
    lambda_l1: float = 100.0
    mu_cgan: float = 1.0  # Eq. 9
    mu_pix: float = 100.0
    pixel_loss: str = "l1"  # "log-mse": each image's own PSNR (PIXEL_LOSSES); the cpu preset's [paper: "l1", Eq. 8]
    flip: bool = True  # left-right flip augmentation of every training triple (section V.A)
    landmark_thickness: float = 0.0  # line width of landmark images in pixels; 0: image_size / 128, at least 1
    landmark_blur: float = 1.0  # Gaussian blur of the landmark lines, sigma in pixels at 64 px (scaled) [paper: -]
    residual: bool = True  # the U-Net's Tanh output is added to the target image [paper: false, it draws the face]
    identity_start: bool = True  # the U-Net's output row starts at zero: it starts as the target unchanged [-]
    warp_input: bool = True  # the U-Net reads the target warped to Phi's landmarks, not the target [paper: false]
    fusion_identity_start: bool = True  # Phi's output row starts at zero: J_gen starts as L_t [paper: -]
    g_width: int = 64  # Table 1's first row
    d_width: int = 64  # Table 2's first row
    fusion_width: int = 32
    fusion_d_width: int = 32
    generator: str = "unet"
    discriminator: str = "patchgan-sn"
    fusion_network: str = "landmark-fusion"
    loss: str = "bce"

    def validate(self) -> None:
        super().validate()
        for name in ("fusion_epochs", "transfer_epochs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("fusion_steps", "transfer_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 (use the epochs) or more, not {getattr(self, name)}")
        if self.identity_start and not self.residual:
            raise ConfigError("identity_start needs residual=true: only a residual U-Net can start as the identity")
        if self.warp_input and not self.fusion:
            raise ConfigError("warp_input needs the fusion module: the target is warped to its landmarks "
                              "(add --set warp_input=false for the U-Net without fusion)")
        if self.pixel_loss not in PIXEL_LOSSES:
            raise ConfigError(f"pixel_loss must be one of {', '.join(PIXEL_LOSSES)}, not '{self.pixel_loss}'")
        if self.landmark_blur < 0:
            raise ConfigError(f"landmark_blur must be 0 (sharp lines) or more, not {self.landmark_blur}")
        if self.landmark_thickness < 0:
            raise ConfigError(f"landmark_thickness must be 0 (automatic) or more, not {self.landmark_thickness}")


def landmark_images(points: Tensor, size: int, thickness: float, blur: float = 0.0) -> Tensor:
    """Landmark images in [-1, 1] (white contours on black, N x 1 x size x size) from N x 68 x 2 points; with
    ``blur`` (a Gaussian's sigma in pixels) the lines are soft ridges whose centre stays white."""
    from gankit_core.data.landmarks import draw_landmarks

    with torch.no_grad():  # data, not a learned quantity: every loss is on the images
        lines = draw_landmarks(points.float(), size, thickness)
        if blur:
            lines = soften(lines, blur)
        return lines * 2 - 1


def soften(lines: Tensor, sigma: float, blur: GaussianBlur | None = None) -> Tensor:
    """Line images (N x 1 x H x W in [0, 1]) blurred by a Gaussian of ``sigma`` pixels and rescaled so that a
    straight line's centre keeps its value (clamped where lines meet): each line becomes a ridge that falls off
    over a few pixels, so an L1 loss between two such images shrinks as one line moves onto the other. ``blur``:
    that Gaussian's ``GaussianBlur`` for the images' size, when the caller blurs many images of one size."""
    blur = blur or GaussianBlur(sigma, lines.shape[-2:], lines)
    # A straight line of unit value blurred across its width peaks at the kernel's centre tap: scale that to 1.
    return (blur(lines) / blur.peak).clamp(0, 1)


class GaussianBlur:
    """A separable Gaussian of ``sigma`` pixels (zero outside the image) over N x C x H x W images of one size
    (``shape``: H, W; dtype and device of ``like``). Each pass is a product with a banded matrix: the same sums as a
    convolution, with a far cheaper gradient on the CPU for these one-channel images (``reading.read_points``
    differentiates through it, and builds the matrices once for its 80 steps)."""

    def __init__(self, sigma: float, shape: tuple[int, int], like: Tensor) -> None:
        radius = max(1, int(3 * sigma + 0.5))
        offsets = torch.arange(-radius, radius + 1, dtype=like.dtype, device=like.device)
        kernel = torch.exp(-offsets**2 / (2 * sigma**2))
        kernel = kernel / kernel.sum()

        def band(length: int) -> Tensor:  # length x length: entry (i, j) weighs pixel i's contribution to pixel j
            positions = torch.arange(length, device=like.device)
            gap = positions[:, None] - positions[None, :]
            return torch.where(gap.abs() <= radius, kernel[(gap + radius).clamp(0, 2 * radius)], 0)

        height, width = shape
        self.columns, self.rows_transposed = band(width), band(height).T
        self.peak = float(kernel[radius])  # the kernel's centre tap

    def __call__(self, images: Tensor) -> Tensor:
        return self.rows_transposed @ (images @ self.columns)


def gaussian_blur(images: Tensor, sigma: float) -> tuple[Tensor, float]:
    """N x C x H x W images blurred by a separable Gaussian of ``sigma`` pixels (zero outside), and the kernel's
    centre tap (``GaussianBlur``)."""
    blur = GaussianBlur(sigma, images.shape[-2:], images)
    return blur(images), blur.peak


def pixel_loss(output: Tensor, truth: Tensor, kind: str) -> Tensor:
    """The U-Net's pixel loss between N x C x H x W images (``PIXEL_LOSSES``)."""
    error = output - truth
    if kind == "l1":
        return error.abs().mean()
    return torch.log(error.pow(2).flatten(1).mean(1) + LOG_MSE_FLOOR).mean() / 100


def mirror(batch: dict[str, Tensor], flipped: Tensor) -> dict[str, Tensor]:
    """The batch with the triples where ``flipped`` (N bools) mirrored left-right: images, and landmarks through
    dlib's index permutation (the mirrored left eye is the right one)."""
    from gankit_core.data.landmarks import mirror_landmarks

    out = dict(batch)
    for key, value in batch.items():
        if value.dim() == 4 and value.is_floating_point():
            out[key] = torch.where(flipped[:, None, None, None], value.flip(-1), value)
        elif key.endswith("landmarks"):
            out[key] = torch.where(flipped[:, None, None], mirror_landmarks(value, batch["image"].shape[-1]), value)
    return out


class ExpressionTransfer(Model):
    """Facial expression transfer (paper 003): landmark fusion autoencoder with D_J (stage 1), then the modified
    U-Net (Table 1) with the spectral-norm PatchGAN (Table 2), cGAN + 100 L1 (stage 2)."""

    name = "expression"
    Config = ExpressionConfig
    inference_networks = ("fusion", "generator")
    batch_fields = ("image", "target", "truth", "landmarks", "target_landmarks", "truth_landmarks",
                    "reference_landmarks")
    sample_needs_data = True
    sample_columns = 5  # source, target, fused landmarks, output, truth
    own_metrics = ("transfer",)
    default_metrics = ("transfer",)
    presets = {
        "paper": Preset("paper 003's settings (256 px, batch 8, 400 + 120 epochs) with gankit's measured deviations: "
                        "the defaults; wants a GPU"),
        "cpu": Preset("docs/models/expression.md's run: 64 px, half-width U-Net and PatchGAN, 1000 fusion + 1500 "
                      "transfer steps on 4096 triples, the U-Net trained on each image's PSNR (pixel_loss log-mse)",
                      {"image_size": 64, "g_width": 32, "d_width": 32, "fusion_steps": 1000, "transfer_steps": 1500,
                       "data": "synthetic-expression:n=4096,identities=400", "sample_every": 2500,
                       "pixel_loss": "log-mse"},
                      measured="9.7 min on one thread of the 2-core CPU (176 s fusion + 403 s transfer); SSIM 0.979 / "
                               "37.3 dB / 29.0 dB features against the truth vs 0.973 / 36.0 / 27.5 for the warp to "
                               "Phi's landmarks and 0.977 / 37.2 / 28.8 for the warp to the true ones "
                               "(docs/models/expression.md)"),
    }
    config_version = 4
    config_migrations = {
        # Version 1: every config saved before versions were recorded. The first model was the paper's as printed:
        # a U-Net drawing the whole face from a random start, Phi from a random start, sharp landmark lines. The
        # keys below came later (a config saved in between holds some of them; only the missing ones are filled).
        1: ConfigMigration(added={"residual": False, "identity_start": False, "fusion_identity_start": False,
                                  "landmark_blur": 0.0}),
        # Version 2: the U-Net read the target itself (the paper's form), not the target warped to Phi's landmarks.
        2: ConfigMigration(added={"warp_input": False}),
        # Version 3: Eq. 8's L1 was the only pixel loss.
        3: ConfigMigration(added={"pixel_loss": "l1"}),
    }

    def __init__(self, config=None, **overrides) -> None:
        super().__init__(config, **overrides)
        if not self.config.fusion:  # the baseline has no fusion module to infer with
            self.inference_networks = ("generator",)

    @property
    def thickness(self) -> float:
        return self.config.landmark_thickness or max(1.0, self.config.image_size / 128)

    def build(self) -> dict[str, nn.Module]:
        from gankit_core import api
        from gankit_core.weights import init_weights

        c = self.config
        options = {"residual": True, "identity_start": c.identity_start} if c.residual else {}
        nets = {
            "generator": api.create_component("generator", c.generator, image_size=c.image_size, width=c.g_width,
                                              in_channels=4, out_channels=3, **options),
            "discriminator": api.create_component("discriminator", c.discriminator, image_size=c.image_size,
                                                  width=c.d_width, in_channels=6),
        }
        if c.fusion:
            nets["fusion"] = api.create_component("generator", c.fusion_network, image_size=c.image_size,
                                                  width=c.fusion_width, in_channels=1,
                                                  **({"identity_start": True} if c.fusion_identity_start else {}))
            nets["landmark_discriminator"] = api.create_component("discriminator", c.discriminator,
                                                                  image_size=c.image_size, width=c.fusion_d_width,
                                                                  in_channels=1)
        for network in nets.values():
            network.apply(init_weights)
        self.loss = api.create_component("loss", c.loss)
        return nets

    def stages(self) -> tuple[Stage, ...]:
        c = self.config

        def length(steps: int, epochs: int) -> dict[str, int]:
            return {"steps": steps} if steps else {"epochs": epochs}

        transfer = Stage(TRANSFER, **length(c.transfer_steps, c.transfer_epochs), trains=("generator", "discriminator"),
                         optimizers=("generator", "discriminator"))
        if not c.fusion:
            return (transfer,)
        fusion = Stage(FUSION, **length(c.fusion_steps, c.fusion_epochs), trains=("fusion", "landmark_discriminator"),
                       optimizers=("fusion", "landmark_discriminator"))
        return (fusion, transfer)

    def optimizers(self, nets) -> dict[str, OptimizerSpec]:
        c = self.config
        betas = (c.beta1, c.beta2)
        specs = {"generator": OptimizerSpec(nets.generator.parameters(), c.g_lr, betas),
                 "discriminator": OptimizerSpec(nets.discriminator.parameters(), c.d_lr, betas)}
        if c.fusion:
            specs["fusion"] = OptimizerSpec(nets.fusion.parameters(), c.g_lr, betas)
            specs["landmark_discriminator"] = OptimizerSpec(nets.landmark_discriminator.parameters(), c.d_lr, betas)
        return specs

    # ---------------------------------------------------------------------------------------------- training
    def train_step(self, nets, batch, step) -> dict[str, Tensor]:
        if self.config.flip:
            batch = mirror(batch, step.rand(batch["image"].shape[0]) < 0.5)
        if step.stage == FUSION:
            return self._fusion_step(nets, batch, step)
        return self._transfer_step(nets, batch, step)

    def draw(self, points: Tensor, size: int) -> Tensor:
        """The landmark images this model reads (N x 1 x size x size in [-1, 1]) of N x 68 x 2 points."""
        return landmark_images(points, size, self.thickness, self.config.landmark_blur * size / 64)

    def _landmarks(self, batch: dict[str, Tensor], key: str, like: Tensor) -> Tensor:
        return self.draw(batch[key], like.shape[-1]).to(like.dtype)

    def _fusion_step(self, nets, batch, step) -> dict[str, Tensor]:
        real = batch["image"]
        source, target = self._landmarks(batch, "landmarks", real), self._landmarks(batch, "target_landmarks", real)
        truth = self._landmarks(batch, "truth_landmarks", real)
        reference = self._landmarks(batch, "reference_landmarks", real)
        with step.autocast():
            fused = nets.fusion(target, source)  # Eq. 1
            # D_J has no batch statistics (spectral norm), so one pass over real and fake is the same maths as two.
            logits = nets.landmark_discriminator(torch.cat([truth, fused.detach()])).float()
            real_logits, fake_logits = logits.chunk(2)
            loss_dj = self.loss.discriminator(real_logits, fake_logits)  # Eq. 3, D_J's side
        step.optimize("landmark_discriminator", loss_dj)
        scalars = {"loss_dj": loss_dj.detach(), "real_score": torch.sigmoid(real_logits.detach()).mean(),
                   "fake_score": torch.sigmoid(fake_logits.detach()).mean()}
        if step.train_generator:
            c = self.config
            with frozen(nets.landmark_discriminator), step.autocast():
                adversarial = self.loss.generator(nets.landmark_discriminator(fused).float())  # Eq. 3, Phi's side
                cycle = (nets.fusion(reference, fused).float() - source.float()).abs().mean()  # Eq. 4
                l1 = (fused.float() - truth.float()).abs().mean()  # Eq. 5
                loss = c.lambda_adv * adversarial + c.lambda_cycle * cycle + c.lambda_l1 * l1  # Eq. 6
            step.optimize("fusion", loss)
            scalars.update(loss_fusion=loss.detach(), loss_cycle=cycle.detach(), loss_l1=l1.detach(),
                           loss_adv=adversarial.detach())
        return scalars

    def _transfer_step(self, nets, batch, step) -> dict[str, Tensor]:
        target, truth = batch["target"], batch["truth"]
        with torch.no_grad(), step.autocast():
            guide = self.guide(nets, batch["landmarks"], batch["target_landmarks"], target)
        base = self.warp(guide, target, batch["target_landmarks"]) if self.config.warp_input else target
        with step.autocast():
            output = nets.generator(torch.cat([base, guide.to(target.dtype)], 1))  # Eq. 2
            # The PatchGAN has no batch statistics either: one pass over (P_t, I_o) and (P_t, I_gen).
            logits = nets.discriminator(torch.cat([target, target]), torch.cat([truth, output.detach()])).float()
            real_logits, fake_logits = logits.chunk(2)
            loss_d = self.loss.discriminator(real_logits, fake_logits)  # Eq. 7, D_I's side, mean over patches
        step.optimize("discriminator", loss_d)
        scalars = {"loss_d": loss_d.detach(), "real_score": torch.sigmoid(real_logits.detach()).mean(),
                   "fake_score": torch.sigmoid(fake_logits.detach()).mean()}
        if step.train_generator:
            c = self.config
            with frozen(nets.discriminator), step.autocast():
                adversarial = self.loss.generator(nets.discriminator(target, output).float())  # Eq. 7, Omega's side
                pixel = pixel_loss(output.float(), truth.float(), c.pixel_loss)  # Eq. 8, or per image
                loss_g = c.mu_cgan * adversarial + c.mu_pix * pixel  # Eq. 9
            step.optimize("generator", loss_g)
            scalars.update(loss_g=loss_g.detach(), loss_pix=pixel.detach(), loss_adv=adversarial.detach())
        return scalars

    # --------------------------------------------------------------------------------------------- inference
    def guide(self, nets, source_points: Tensor, target_points: Tensor, like: Tensor) -> Tensor:
        """The landmark image the U-Net reads: J_gen (Eq. 1) clamped to [-1, 1], or L_s without the fusion module."""
        source = self._landmarks({"points": source_points}, "points", like)
        if not self.config.fusion:
            return source
        target = self._landmarks({"points": target_points}, "points", like)
        return nets.fusion(target, source).clamp(-1, 1)

    def fused_points(self, guide: Tensor, target_points: Tensor) -> Tensor:
        """Phi's landmarks as 68 points (N x 68 x 2): read off the fused landmark image J_gen, starting from the
        target's own points (``reading.read_points``)."""
        from gankit_unet_landmark.reading import read_points

        size = guide.shape[-1]
        return read_points(guide, target_points, self.thickness, self.config.landmark_blur * size / 64)

    def warp(self, guide: Tensor, target: Tensor, target_points: Tensor) -> Tensor:
        """The target locally warped to Phi's landmarks (``warp.local_warp``): the eyes, brows and mouth moved to
        where J_gen puts them, every other pixel as it was. The U-Net's input with ``warp_input``, and on its own the
        classical baseline with the same information as the model."""
        from gankit_unet_landmark.warp import local_warp

        return local_warp(target, target_points, self.fused_points(guide, target_points))

    def transfer(self, nets, source_points: Tensor, target: Tensor, target_points: Tensor) -> tuple[Tensor, Tensor]:
        """(the target face wearing the source's expression, the landmark image that guided it)."""
        guide = self.guide(nets, source_points, target_points, target)
        base = self.warp(guide, target, target_points) if self.config.warp_input else target
        return nets.generator(torch.cat([base, guide.to(target.dtype)], 1)), guide

    def sample_inputs(self, n, batch, generator) -> dict[str, Tensor]:
        return {"source": batch["image"][:n], "target": batch["target"][:n], "truth": batch["truth"][:n],
                "source_landmarks": batch["landmarks"][:n], "target_landmarks": batch["target_landmarks"][:n]}

    def generate(self, nets, inputs) -> Tensor:
        return self.transfer(nets, inputs["source_landmarks"], inputs["target"], inputs["target_landmarks"])[0]

    def sample(self, nets, inputs) -> Tensor:
        output, guide = self.transfer(nets, inputs["source_landmarks"], inputs["target"], inputs["target_landmarks"])
        source = inputs["source"]
        rows = [source, inputs["target"], guide.to(source.dtype).expand(-1, 3, -1, -1), output.to(source.dtype),
                inputs["truth"]]
        return torch.stack(rows, dim=1).flatten(0, 1)

    def example_inputs(self, network: str) -> tuple[Tensor, ...]:
        size = self.config.image_size
        blank = torch.zeros(2, 1, size, size)
        return {"generator": (torch.zeros(2, 4, size, size),),
                "discriminator": (torch.zeros(2, 3, size, size), torch.zeros(2, 3, size, size)),
                "fusion": (blank, blank.clone()),  # two tensors: an exporter tracing one aliased input would merge them
                "landmark_discriminator": (blank,)}[network]

    def evaluate(self, evaluation) -> dict[str, float]:
        from gankit_unet_landmark.evaluation import evaluate_transfer

        return evaluate_transfer(evaluation.loaded, count=evaluation.count, seed=evaluation.seed, data=evaluation.data,
                                 baseline=evaluation.baseline)
