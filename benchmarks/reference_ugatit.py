"""The reference U-GAT-IT iteration, written the way the public code (znxlwm/UGATIT-pytorch, ``UGATIT.train``)
writes it: fp32, eager, NCHW; the discriminator loss back-propagates through un-detached fakes into both
generators; real and fake go through each discriminator separately; the generator step runs the six generator
passes again; AdaLIN and LIN are the hand-written ``torch.mean``/``torch.var`` arithmetic; plain Adam with
weight decay; rho clipped after the generator step; the CAM as the public code writes it (features times each
classifier's weight, concatenated, then the 1x1 fusion conv) and spectral norm as torch's parametrization applies it
(the weight divided by sigma at every read). Same networks and weights layout as gankit's ugatit (light generator,
4 blocks, global 7 / local 5 layers at width 64), paper 001 Table 2's loss weights."""

from __future__ import annotations

import itertools
import types

import torch
import torch.nn.functional as F
from gankit_adalin.layers import LIN, AdaLIN, clip_rho
from gankit_adalin.spectral import SpectralNormConv2d

from gankit_core import api
from gankit_core.data import open_dataset


def _reference_mix(self, x):
    """The public code's hand-written instance/layer-norm mix, rho-weighted (before gamma and beta)."""
    in_mean, in_var = torch.mean(x, dim=[2, 3], keepdim=True), torch.var(x, dim=[2, 3], keepdim=True)
    out_in = (x - in_mean) / torch.sqrt(in_var + self.eps)
    ln_mean, ln_var = torch.mean(x, dim=[1, 2, 3], keepdim=True), torch.var(x, dim=[1, 2, 3], keepdim=True)
    out_ln = (x - ln_mean) / torch.sqrt(ln_var + self.eps)
    rho = self.rho.view(1, -1, 1, 1).expand(x.shape[0], -1, -1, -1)
    return rho * out_in + (1 - rho) * out_ln


def _reference_adalin(self, x, gamma, beta):
    return _reference_mix(self, x) * gamma.unsqueeze(2).unsqueeze(3) + beta.unsqueeze(2).unsqueeze(3)


def _reference_lin(self, x):
    out = _reference_mix(self, x)
    return out * self.gamma.view(1, -1, 1, 1).expand(x.shape[0], -1, -1, -1) + \
        self.beta.view(1, -1, 1, 1).expand(x.shape[0], -1, -1, -1)


def _reference_attend(self, features):
    """The public code's CAM: the features re-weighted by each classifier's weight, concatenated, fused by the 1x1
    conv (gankit folds the re-weighting into the conv's weight: ``gankit_adalin.networks.class_activation``)."""
    gap_weight, gmp_weight = self.gap_fc.weight, self.gmp_fc.weight
    logits = torch.cat([F.linear(features.mean((2, 3)), gap_weight), F.linear(features.amax((2, 3)), gmp_weight)], 1)
    weighted = torch.cat([features * gap_weight.view(1, -1, 1, 1), features * gmp_weight.view(1, -1, 1, 1)], 1)
    return logits, self.fuse(weighted)


def _as_public_code(network):
    """The network computed as the public code computes it: its own AdaLIN/LIN arithmetic, CAM and spectral norm
    (torch's ``nn.Conv2d.forward`` reading the parametrized weight, where gankit's ``SpectralNormConv2d`` divides
    the output of the deep layers instead)."""
    network.attend = types.MethodType(_reference_attend, network)
    for module in network.modules():
        if isinstance(module, AdaLIN):
            module.forward = types.MethodType(_reference_adalin, module)
        elif isinstance(module, LIN):
            module.forward = types.MethodType(_reference_lin, module)
        elif isinstance(module, SpectralNormConv2d):
            module.forward = types.MethodType(torch.nn.Conv2d.forward, module)
    return network


def make_reference_step(batch_size: int, image_size: int = 256, width: int = 64):
    torch.manual_seed(0)
    gen_a2b, gen_b2a = (_as_public_code(api.create_component("generator", "ugatit", image_size=image_size,
                                                             width=width, n_blocks=4, light=True))
                        for _ in range(2))
    dis_ga, dis_gb = (_as_public_code(api.create_component("discriminator", "ugatit", width=width, layers=7,
                                                           image_size=image_size))
                      for _ in range(2))
    dis_la, dis_lb = (_as_public_code(api.create_component("discriminator", "ugatit", width=width, layers=5,
                                                           image_size=image_size))
                      for _ in range(2))
    g_optim = torch.optim.Adam(itertools.chain(gen_a2b.parameters(), gen_b2a.parameters()), lr=1e-4,
                               betas=(0.5, 0.999), weight_decay=1e-4)
    d_optim = torch.optim.Adam(itertools.chain(dis_ga.parameters(), dis_gb.parameters(), dis_la.parameters(),
                                               dis_lb.parameters()), lr=1e-4, betas=(0.5, 0.999), weight_decay=1e-4)
    data = open_dataset(f"synthetic-unpaired:n={max(16, batch_size)}", image_size).take(torch.arange(batch_size))
    real_a, real_b = data["image"].float() / 127.5 - 1, data["image_b"].float() / 127.5 - 1
    mse, l1, bce = torch.nn.MSELoss(), torch.nn.L1Loss(), torch.nn.BCEWithLogitsLoss()
    adv_weight, cycle_weight, identity_weight, cam_weight = 1, 10, 10, 100

    def step() -> None:
        # Update D
        d_optim.zero_grad()
        fake_a2b, _, _ = gen_a2b.translate_with_attention(real_a)
        fake_b2a, _, _ = gen_b2a.translate_with_attention(real_b)
        real_ga_logit, real_ga_cam_logit, _ = dis_ga(real_a)
        real_la_logit, real_la_cam_logit, _ = dis_la(real_a)
        real_gb_logit, real_gb_cam_logit, _ = dis_gb(real_b)
        real_lb_logit, real_lb_cam_logit, _ = dis_lb(real_b)
        fake_ga_logit, fake_ga_cam_logit, _ = dis_ga(fake_b2a)
        fake_la_logit, fake_la_cam_logit, _ = dis_la(fake_b2a)
        fake_gb_logit, fake_gb_cam_logit, _ = dis_gb(fake_a2b)
        fake_lb_logit, fake_lb_cam_logit, _ = dis_lb(fake_a2b)
        d_loss = 0
        for real, fake in ((real_ga_logit, fake_ga_logit), (real_ga_cam_logit, fake_ga_cam_logit),
                           (real_la_logit, fake_la_logit), (real_la_cam_logit, fake_la_cam_logit),
                           (real_gb_logit, fake_gb_logit), (real_gb_cam_logit, fake_gb_cam_logit),
                           (real_lb_logit, fake_lb_logit), (real_lb_cam_logit, fake_lb_cam_logit)):
            d_loss = d_loss + mse(real, torch.ones_like(real)) + mse(fake, torch.zeros_like(fake))
        (adv_weight * d_loss).backward()
        d_optim.step()

        # Update G
        g_optim.zero_grad()
        fake_a2b, fake_a2b_cam_logit, _ = gen_a2b.translate_with_attention(real_a)
        fake_b2a, fake_b2a_cam_logit, _ = gen_b2a.translate_with_attention(real_b)
        fake_a2b2a, _, _ = gen_b2a.translate_with_attention(fake_a2b)
        fake_b2a2b, _, _ = gen_a2b.translate_with_attention(fake_b2a)
        fake_a2a, fake_a2a_cam_logit, _ = gen_b2a.translate_with_attention(real_a)
        fake_b2b, fake_b2b_cam_logit, _ = gen_a2b.translate_with_attention(real_b)
        adversarial = 0
        for discriminator, fake in ((dis_ga, fake_b2a), (dis_la, fake_b2a), (dis_gb, fake_a2b), (dis_lb, fake_a2b)):
            logit, cam_logit, _ = discriminator(fake)
            adversarial = adversarial + mse(logit, torch.ones_like(logit)) + mse(cam_logit, torch.ones_like(cam_logit))
        recon = l1(fake_a2b2a, real_a) + l1(fake_b2a2b, real_b)
        identity = l1(fake_a2a, real_a) + l1(fake_b2b, real_b)
        cam = (bce(fake_b2a_cam_logit, torch.ones_like(fake_b2a_cam_logit))
               + bce(fake_a2a_cam_logit, torch.zeros_like(fake_a2a_cam_logit))
               + bce(fake_a2b_cam_logit, torch.ones_like(fake_a2b_cam_logit))
               + bce(fake_b2b_cam_logit, torch.zeros_like(fake_b2b_cam_logit)))
        g_loss = adv_weight * adversarial + cycle_weight * recon + identity_weight * identity + cam_weight * cam
        g_loss.backward()
        g_optim.step()
        clip_rho(gen_a2b, gen_b2a)

    return step

