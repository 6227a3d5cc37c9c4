"""Adversarial objectives (non-saturating BCE, LSGAN, WGAN, hinge) and the gradient-penalty maths."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit_core.interfaces import Loss


class NonSaturatingLoss(Loss):
    """Goodfellow et al.'s GAN loss with the non-saturating generator objective (DCGAN's)."""

    def discriminator(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return real + fake

    def generator(self, fake_logits: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def least_squares(logits: Tensor, target: float) -> Tensor:
    """LSGAN's mean (logit - target)^2, in fp32: the term models with several critics (U-GAT-IT, CycleGAN) sum."""
    return (logits.float() - target).square().mean()


class LeastSquaresLoss(Loss):
    """LSGAN (Mao et al.): real -> 1, fake -> 0, in squared error."""

    def discriminator(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return least_squares(real_logits, 1) + least_squares(fake_logits, 0)

    def generator(self, fake_logits: Tensor) -> Tensor:
        return least_squares(fake_logits, 1)


class WassersteinLoss(Loss):
    """WGAN critic loss, D(fake) - D(real); pair it with a gradient penalty (WGAN-GP)."""

    def discriminator(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return fake_logits.float().mean() - real_logits.float().mean()

    def generator(self, fake_logits: Tensor) -> Tensor:
        return -fake_logits.float().mean()


class HingeLoss(Loss):
    """Hinge loss (Lim & Ye; used by SNGAN, BigGAN)."""

    def discriminator(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return F.relu(1 - real_logits.float()).mean() + F.relu(1 + fake_logits.float()).mean()

    def generator(self, fake_logits: Tensor) -> Tensor:
        return -fake_logits.float().mean()


def gradient_norm_penalty(gradients: Tensor, target: float = 1.0) -> Tensor:
    """Mean over the batch of (||g|| - target)^2, in fp32 (WGAN-GP, Gulrajani et al. Eq. 3)."""
    norms = gradients.float().flatten(1).norm(2, dim=1)
    return ((norms - target) ** 2).mean()


def gradient_square_penalty(gradients: Tensor) -> Tensor:
    """Mean over the batch of ||g||^2, in fp32 (R1, Mescheder et al.)."""
    return gradients.float().flatten(1).pow(2).sum(dim=1).mean()
