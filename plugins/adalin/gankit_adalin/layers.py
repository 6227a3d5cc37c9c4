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
    The layer statistics come from the instance ones (law of total variance), in fp32 under autocast. The
    gradient is written out too (``LayerInstanceNorm``): two sums per (image, channel) and one pass back.
    """
    return LayerInstanceNorm.apply(x, rho, gamma, beta, eps)


class LayerInstanceNorm(torch.autograd.Function):
    """``layer_instance_norm`` with its backward by hand. autograd's went through var_mean's backward, the fp32
    copy of x it kept, and the multiply-add's, about ten passes over the feature map; this one makes six in fp32
    (eight from a bf16 map: its gradient cast up and the result cast back), from two sums per (image, channel):

        S = sum g,  P = sum g (x - mu_I)          (g: the output's gradient; sums over H x W)
        dL/dbeta = S,  dL/dgamma = rho s_I P + (1 - rho) s_L (P + (mu_I - mu_L) S),  s = 1 / sqrt(var + eps)
        dL/dx = scale g + B (x - mu_I) + C        (B, C per image and channel: the two norms' backward)

    x - mu_I is formed in fp32, so a map whose mean is large against its spread keeps its gradient (no sum of
    g x minus mu_I sum g, which would cancel)."""

    @staticmethod
    def forward(ctx, x: Tensor, rho: Tensor, gamma: Tensor, beta: Tensor, eps: float) -> Tensor:
        channels = x.shape[1]
        exact = torch.promote_types(x.dtype, torch.float32)  # fp32 statistics for a bf16 map
        # N x C x 1 x 1, in two passes (the mean, then the centred squares): torch's one-pass var_mean took 3-10x as
        # long on the generator's maps (4.9 ms against 0.7 at 2 x 256 x 64 x 64), as exact to fp32's rounding.
        mean_i = x.mean((2, 3), keepdim=True, dtype=exact)
        var_i = (x.to(exact) - mean_i).square_().mean((2, 3), keepdim=True)
        mean_l = mean_i.mean(1, keepdim=True)  # N x 1 x 1 x 1
        var_l = var_i.mean(1, keepdim=True) + (mean_i - mean_l).square().mean(1, keepdim=True)
        inv_i, inv_l = torch.rsqrt(var_i + eps), torch.rsqrt(var_l + eps)
        rho4 = rho.to(exact).view(1, -1, 1, 1)
        gamma4 = gamma.to(exact).reshape(-1, channels, 1, 1)
        beta4 = beta.to(exact).reshape(-1, channels, 1, 1)
        scale = (rho4 * inv_i + (1 - rho4) * inv_l) * gamma4
        shift = beta4 - (rho4 * mean_i * inv_i + (1 - rho4) * mean_l * inv_l) * gamma4
        ctx.save_for_backward(x, rho4, gamma4, mean_i, inv_i, mean_l, inv_l, scale)
        ctx.parameters = [(p.shape, p.dtype) for p in (rho, gamma, beta)]
        return torch.addcmul(shift.to(x.dtype), x, scale.to(x.dtype))

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, rho, gamma, mean_i, inv_i, mean_l, inv_l, scale = ctx.saved_tensors
        channels, area = x.shape[1], x.shape[2] * x.shape[3]
        # In fp32 throughout: mixed bf16 and fp32 operands would take torch's slow, unvectorised elementwise path.
        grad = grad.to(mean_i.dtype)
        centred = x.to(mean_i.dtype) - mean_i  # x - mu_I
        grad_sum = grad.sum((2, 3), keepdim=True)  # S
        grad_dot = (centred * grad).sum((2, 3), keepdim=True)  # P
        offset = mean_i - mean_l
        dot_layer = grad_dot + offset * grad_sum  # sum g (x - mu_L)
        normalised_i, normalised_l = inv_i * grad_dot, inv_l * dot_layer  # sum g a_I, sum g a_L
        weight_i, weight_l = gamma * rho, gamma * (1 - rho)  # what multiplies a_I and a_L
        # The layer norm's means over C x H x W, per image, of its incoming gradient and of that times a_L / s_L.
        mean_grad_l = (weight_l * grad_sum).sum(1, keepdim=True) / (channels * area)
        mean_dot_l = (weight_l * dot_layer).sum(1, keepdim=True) / (channels * area)
        slope = -weight_i * inv_i.pow(3) * grad_dot / area - inv_l.pow(3) * mean_dot_l
        constant = -weight_i * inv_i * grad_sum / area - inv_l * mean_grad_l - inv_l.pow(3) * mean_dot_l * offset
        grad_x = torch.addcmul(constant, centred, slope, out=centred)  # in place: B (x - mu_I) + C
        grad_x = grad_x.addcmul_(grad, scale).to(x.dtype)
        grad_rho = (gamma * (normalised_i - normalised_l)).sum(0)
        grad_gamma = rho * normalised_i + (1 - rho) * normalised_l

        def as_given(gradient: Tensor, shape: torch.Size, dtype: torch.dtype) -> Tensor:
            """A per-image gradient (N x C x 1 x 1) summed over the images for a per-channel parameter."""
            gradient = gradient.reshape(-1, channels)
            return (gradient.sum(0) if len(shape) == 1 else gradient).reshape(shape).to(dtype)

        (rho_shape, rho_dtype), (gamma_shape, gamma_dtype), (beta_shape, beta_dtype) = ctx.parameters
        return (grad_x, grad_rho.reshape(rho_shape).to(rho_dtype), as_given(grad_gamma, gamma_shape, gamma_dtype),
                as_given(grad_sum, beta_shape, beta_dtype), None)


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
