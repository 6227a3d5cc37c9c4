"""The reference transfer-module step of paper 003, written the way pix2pix's public training loop writes it:
fp32, eager, NCHW, separate discriminator passes for real and fake pairs (and a third for the generator's
turn), plain Adam, no engine. Same networks and maths as gankit's expression model in its transfer stage: the
frozen fusion module makes J_gen from landmark images, the U-Net (Table 1) reads the target and J_gen, the
spectral-norm PatchGAN (Table 2) judges (P_t, I), cGAN + 100 L1 (Eq. 9)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from gankit_unet_landmark.model import landmark_images

from gankit_core import api
from gankit_core.data import open_dataset
from gankit_core.weights import init_weights


def make_reference_step(batch_size: int, image_size: int = 256, width: int = 64):
    torch.manual_seed(0)
    generator = api.create_component("generator", "unet", image_size=image_size, width=width, in_channels=4)
    discriminator = api.create_component("discriminator", "patchgan-sn", image_size=image_size, width=width,
                                         in_channels=6)
    fusion = api.create_component("generator", "landmark-fusion", image_size=image_size, width=32, in_channels=1)
    for network in (generator, discriminator, fusion):
        network.apply(init_weights)
    fusion.eval().requires_grad_(False)
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=1e-4, betas=(0.5, 0.999))
    optimizer_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = open_dataset(f"synthetic-expression:n={max(16, batch_size)}", image_size).take(torch.arange(batch_size))
    target = data["target"].float() / 127.5 - 1
    truth = data["truth"].float() / 127.5 - 1
    thickness = max(1.0, image_size / 128)

    def bce(logits, real: bool):
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(real)))

    def step() -> None:
        with torch.no_grad():
            source_marks = landmark_images(data["landmarks"], image_size, thickness)
            target_marks = landmark_images(data["target_landmarks"], image_size, thickness)
            guide = fusion(target_marks, source_marks).clamp(-1, 1)
        fake = generator(torch.cat([target, guide], 1))
        optimizer_d.zero_grad()
        loss_d = bce(discriminator(torch.cat([target, truth], 1)), True) + bce(
            discriminator(torch.cat([target, fake.detach()], 1)), False)
        loss_d.backward()
        optimizer_d.step()
        optimizer_g.zero_grad()
        loss_g = bce(discriminator(torch.cat([target, fake], 1)), True) + 100 * (fake - truth).abs().mean()
        loss_g.backward()
        optimizer_g.step()

    return step
