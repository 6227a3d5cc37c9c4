"""Layer-instance normalisation (paper 001, section 3.2.2; U-GAT-IT): AdaLIN and its non-adaptive form LIN.

    a_I = (a - mu_I) / sqrt(var_I + eps)        instance statistics: per image and channel, over H x W
    a_L = (a - mu_L) / sqrt(var_L + eps)        layer statistics: per image, over C x H x W
    AdaLIN(a, gamma, beta) = gamma * (rho * a_I + (1 - rho) * a_L) + beta

rho is a learned per-channel mix, clipped to [0, 1] after every optimizer step (``clip_rho``). In
AdaLIN gamma and beta come from the generator's attention path (one pair per image); in LIN they
are learned per channel. Variances are the population ones (divide by the count), as the formula
and torch's instance/layer norms have them; the public U-GAT-IT code uses the unbiased ``torch.var``,
which differs by a factor HW / (HW - 1) (1.0002 on the 64 x 64 maps of a 256 px generator).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def layer_instance_norm(x: Tensor, rho: Tensor, gamma: Tensor, beta: Tensor, eps: float = 1e-5) -> Tensor:
    """gamma * (rho * a_I + (1 - rho) * a_L) + beta, for x (N x C x H x W), rho (C), gamma and beta (N x C or C).

    Both normalisations are affine in x per (image, channel), so the whole layer is x * scale + shift with
    N x C x 1 x 1 factors: one pass over the feature map instead of the five a literal transcription makes.
    The layer statistics come from the instance ones (law of total variance), in fp32 under autocast.
    """
    var_i, mean_i = torch.var_mean(x.float(), dim=(2, 3), keepdim=True, correction=0)  # N x C x 1 x 1
    mean_l = mean_i.mean(1, keepdim=True)  # N x 1 x 1 x 1
    var_l = var_i.mean(1, keepdim=True) + (mean_i - mean_l).square().mean(1, keepdim=True)
    inv_i, inv_l = torch.rsqrt(var_i + eps), torch.rsqrt(var_l + eps)
    rho = rho.float().view(1, -1, 1, 1)
    gamma = gamma.float().reshape(-1, x.shape[1], 1, 1)
    beta = beta.float().reshape(-1, x.shape[1], 1, 1)
    scale = (rho * inv_i + (1 - rho) * inv_l) * gamma
    shift = beta - (rho * mean_i * inv_i + (1 - rho) * mean_l * inv_l) * gamma
    return torch.addcmul(shift.to(x.dtype), x, scale.to(x.dtype))


class AdaLIN(nn.Module):
    """Adaptive layer-instance norm: gamma and beta (N x C) are given per image with the input."""

    def __init__(self, channels: int, eps: float = 1e-5, rho_init: float = 0.9) -> None:
        super().__init__()
        self.eps = eps
        # U-GAT-IT starts the residual blocks close to instance norm (rho 0.9).
        self.rho = nn.Parameter(torch.full((channels,), rho_init))

    def forward(self, x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
        return layer_instance_norm(x, self.rho, gamma, beta, self.eps)


class LIN(nn.Module):
    """Layer-instance norm with learned per-channel gamma and beta (the up-sampling path)."""

    def __init__(self, channels: int, eps: float = 1e-5, rho_init: float = 0.0) -> None:
        super().__init__()
        self.eps = eps
        # U-GAT-IT starts the decoder at plain layer norm (rho 0), gamma 1, beta 0.
        self.rho = nn.Parameter(torch.full((channels,), rho_init))
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return layer_instance_norm(x, self.rho, self.gamma, self.beta, self.eps)


@torch.no_grad()
def clip_rho(*networks: nn.Module) -> None:
    """rho <- clip[0, 1](rho) in every AdaLIN and LIN of ``networks`` (section 3.2.2), after an optimizer step."""
    for network in networks:
        for module in network.modules():
            if isinstance(module, (AdaLIN, LIN)):
                module.rho.clamp_(0.0, 1.0)
