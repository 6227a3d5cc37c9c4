"""A spectrally normalised convolution that applies 1 / sigma to whichever is smaller, its weight or its output.

torch's spectral norm (``torch.nn.utils.parametrizations.spectral_norm``) divides the whole weight by sigma each
time the weight is read, and its backward touches every weight again (the gradient through ``W / sigma`` to W and
to sigma). A convolution is linear in its weight and its bias, so

    conv(x, W / sigma, b) = conv(x, W, sigma * b) / sigma,

and the gradients reach W, b and sigma by the same chain rule. In U-GAT-IT's discriminators the deep layers hold
most of the weights on small maps: at 256 px the global one's 1024 -> 2048 conv has 33.5M weights and gives a
2048 x 7 x 7 map per image. Dividing the output there is the same maths for a fraction of the work.

The power iteration, sigma's formula, the buffers and the checkpoint keys are torch's own (the parametrization is
torch's; this class only changes how ``forward`` applies sigma), so a checkpoint written with a plain
``spectral_norm(nn.Conv2d(...))`` loads unchanged, and reading ``.weight`` still gives W / sigma.

On a CPU the output-divided convs of 4M weights or more (at 256 px and width 64 the global discriminator's 512 ->
1024 and 1024 -> 2048 convs) compute as an unfold and one matrix product (``gankit_core.matmul_conv``), which
oneDNN's kernels ran 1.4-1.7x slower on their 8 x 8 and 7 x 7 maps (``benchmarks/kernels.py matmul``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from gankit_core.matmul_conv import computes_faster_as_matmul, conv2d_as_matmul


class SpectralNormConv2d(nn.Conv2d):
    """``nn.Conv2d`` under torch's spectral norm (built by ``spectral_norm_conv``), dividing its output by sigma
    where the output has fewer numbers than the weight."""

    def forward(self, x: Tensor) -> Tensor:
        if not parametrize.is_parametrized(self, "weight"):
            return super().forward(x)
        weight = self.parametrizations.weight.original
        if self._output_numel(x) >= weight.numel():
            return super().forward(x)  # reads self.weight: torch's W / sigma
        normalise = self.parametrizations.weight[0]  # torch's _SpectralNorm: power iteration, u and v buffers
        # What _SpectralNorm.forward computes, in its order, up to the division.
        weight_matrix = normalise._reshape_weight_to_matrix(weight)
        if normalise.training:
            normalise._power_method(weight_matrix, normalise.n_power_iterations)
        u = normalise._u.clone(memory_format=torch.contiguous_format)
        v = normalise._v.clone(memory_format=torch.contiguous_format)
        sigma = torch.vdot(u, torch.mv(weight_matrix, v))
        bias = None if self.bias is None else self.bias * sigma
        if computes_faster_as_matmul(x, weight, self.padding_mode):  # the deep layers' big convs, on a CPU
            return conv2d_as_matmul(x, weight, bias, self.stride, self.padding, self.dilation) / sigma
        return self._conv_forward(x, weight, bias) / sigma

    def _output_numel(self, x: Tensor) -> int:
        """How many numbers the convolution gives for ``x`` (N x C x H x W, or C x H x W unbatched)."""
        if self.padding == "same":
            spatial = list(x.shape[-2:])
        else:
            padding = (0, 0) if self.padding == "valid" else self.padding
            spatial = [
                (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
                for size, pad, dilation, kernel, stride in zip(
                    x.shape[-2:], padding, self.dilation, self.kernel_size, self.stride, strict=True
                )
            ]
        batch = x.shape[0] if x.dim() == 4 else 1
        return batch * self.out_channels * math.prod(spatial)


def spectral_norm_conv(*args, **kwargs) -> SpectralNormConv2d:
    """``spectral_norm(nn.Conv2d(*args, **kwargs))`` whose forward divides the smaller of its weight and output."""
    return spectral_norm(SpectralNormConv2d(*args, **kwargs))
