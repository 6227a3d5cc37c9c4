"""A convolution computed as an unfold and one matrix product, for the big convs on small maps where oneDNN's CPU
kernels are slow.

Measured on a 2-core AVX512-BF16 CPU (bf16 and fp32, forward and backward; docs/speed.md): every conv of 4.2M
weights or more on 2 x 2 to 16 x 16 maps ran 1.4-3.3x faster as a matrix product (CREGAN's critic: 512 -> 512 up
to 1024 -> 1024 channels, batch 8-32; U-GAT-IT's global discriminator: its 1024 -> 2048 4x4 conv on 7 x 7 maps
took 50 ms against 72 at batch 2, its 512 -> 1024 conv 18 against 26), while 2.1M weights (256 -> 512) ran as fast
or slower (76 ms against 37 on 31 x 31 maps; ``python benchmarks/kernels.py matmul``). The matrix product reads the
same weights; oneDNN's kernels at these shapes, not the reading of the weights, were what held those layers back.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

# From this many weights a conv runs as a matrix product on a CPU (see above).
MATMUL_WEIGHTS = 4 * 2**20


def computes_faster_as_matmul(image: Tensor, weight: Tensor, padding_mode: str = "zeros") -> bool:
    """Whether ``conv2d_as_matmul`` is the faster form for this conv: a CPU, ``MATMUL_WEIGHTS`` weights or more, and
    zero padding (the unfold's)."""
    return image.device.type == "cpu" and weight.numel() >= MATMUL_WEIGHTS and padding_mode == "zeros"


def conv2d_as_matmul(image: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple[int, int],
                     padding: tuple[int, int], dilation: tuple[int, int]) -> Tensor:
    """``F.conv2d(image, weight, bias, stride, padding, dilation)`` (groups 1) computed as an unfold (every output
    position's receptive field, padding included, as one column) and one matrix product with the flattened
    weight: the same products and sums, in another order. Twice differentiable, as a gradient penalty needs."""
    n, _, height, width = image.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = weight.shape[-2:], stride, padding, dilation
    out_h, out_w = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    columns = F.unfold(image, (kh, kw), dilation, padding, stride)  # N x (C kh kw) x L
    # One (N L) x (C kh kw) matrix: a batched product would copy the weight once per image.
    rows = columns.transpose(1, 2).reshape(n * out_h * out_w, -1)
    out = F.linear(rows, weight.flatten(1), bias)  # (N L) x O
    return out.reshape(n, out_h * out_w, -1).transpose(1, 2).reshape(n, -1, out_h, out_w)
