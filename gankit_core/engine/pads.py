"""Reflection and replication padding that stay in bf16 under a CPU's autocast, with the same values.

torch's CPU autocast lists ``reflection_pad2d`` and ``replication_pad2d`` among the ops it runs in fp32, so in a
bf16 step each such pad casts its bf16 input up to fp32, pads in fp32, and the convolution after it casts the
padded map back down: two full copies of the activation forward and two more backward, around a pad that only
moves values. CycleGAN's generator has 20 reflection pads, U-GAT-IT's as many; in CycleGAN's bf16 step at 256 px
(channels-last) they cost about 3 % of the step (docs/speed.md).

Padding moves values without changing them, so the bf16 pad gives exactly the values the fp32 pad gave after
the convolution's cast. Its backward adds the gradients of each pixel's mirror images, which autocast's path sums
in fp32 and rounds once: a reflection's gradient is folded in bf16 (one term in the middle and two along an edge
round the same either way) with its corners, where four terms meet, folded again in fp32; a replication's, whose
edge pixels take more terms, is folded in fp32. Either way the input gradient is bit for bit autocast's.

A reflection's gradient is folded as slices of the padded gradient (its middle copied, each mirrored row and
column added), at any precision on a CPU: torch's kernel walks the padded map element by element and took 2-4x as
long on the generators' maps (``benchmarks/kernels.py pads``), 5 % of U-GAT-IT's bf16 step at 256 px. In fp32 the
result is torch's bit for bit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# F.pad's mode -> the aten op that folds a padded map's gradient back onto the unpadded input
_FOLD_GRADIENT = {
    "reflect": torch.ops.aten.reflection_pad2d_backward,
    "replicate": torch.ops.aten.replication_pad2d_backward,
}


class _PadInInputDtype(torch.autograd.Function):
    @staticmethod
    def forward(ctx, image: Tensor, padding: tuple[int, ...], mode: str) -> Tensor:
        ctx.padding, ctx.mode = padding, mode
        # the shape and strides autocast's fp32 copy of the input had (no storage): its gradient takes that layout
        ctx.input_like = torch.empty_like(image, dtype=torch.float32, device="meta")
        with torch.autocast(image.device.type, enabled=False):
            return F.pad(image, padding, mode=mode)

    @staticmethod
    def backward(ctx, gradient: Tensor) -> tuple[Tensor, None, None]:
        like = ctx.input_like
        if ctx.mode == "reflect" and not torch.is_grad_enabled() and _corners_apart(like.shape, ctx.padding):
            return _fold_reflection_in_dtype(gradient, like, ctx.padding), None, None
        # as autocast's path: the padded gradient in fp32, folded back, then rounded once
        fp32_input = torch.empty_strided(
            like.shape, like.stride(), dtype=torch.float32, device=gradient.device
        )
        folded = _FOLD_GRADIENT[ctx.mode](gradient.float(), fp32_input, list(ctx.padding))
        return folded.to(gradient.dtype), None, None


def _corners_apart(shape: torch.Size, padding: tuple[int, ...]) -> bool:
    """Whether no input pixel takes mirrored gradients from both opposite sides (a map wider than both pads)."""
    left, right, top, bottom = padding
    return shape[-1] > left + right + 1 and shape[-2] > top + bottom + 1


def _fold_reflection_in_dtype(gradient: Tensor, like: Tensor, padding: tuple[int, ...]) -> Tensor:
    """A reflection pad's input gradient folded in the gradient's own dtype, equal bit for bit to torch's fold in
    fp32 (rounded once for a bf16 gradient). A pixel's gradient is the sum of its mirror images: one in the middle,
    two along an edge (one rounding either way, and a + b = b + a), four near a corner (three roundings in bf16
    against one, and another order of the sums), so the corners are folded again in fp32, by torch's kernel, from
    their own corner of the padded gradient.

    The middle and the edges are folded as slices: a copy of the middle, then one addition per mirrored row and
    column. torch's CPU kernel (``reflection_pad2d_backward``) walks the padded map element by element and took
    2-4x as long on the generators' maps (docs/speed.md)."""
    left, right, top, bottom = padding
    padded_height, padded_width = gradient.shape[-2], gradient.shape[-1]
    last_row, last_column = padded_height - bottom - 1, padded_width - right - 1  # the input's last, padded
    folded = torch.empty_strided(like.shape, like.stride(), dtype=gradient.dtype, device=gradient.device)
    folded.copy_(gradient[..., top : last_row + 1, left : last_column + 1])
    for k in range(1, top + 1):  # input row k is mirrored to padded row top - k
        folded[..., k, :] += gradient[..., top - k, left : last_column + 1]
    for k in range(1, bottom + 1):  # and input row height - 1 - k to padded row last_row + k
        folded[..., -1 - k, :] += gradient[..., last_row + k, left : last_column + 1]
    for k in range(1, left + 1):
        folded[..., :, k] += gradient[..., top : last_row + 1, left - k]
    for k in range(1, right + 1):
        folded[..., :, -1 - k] += gradient[..., top : last_row + 1, last_column + k]
    height, width = like.shape[-2], like.shape[-1]
    # (rows, columns) of the corner in the input, the same corner of the padded gradient, the fold's padding
    corners = (
        (
            slice(0, top + 1),
            slice(0, left + 1),
            slice(0, 2 * top + 1),
            slice(0, 2 * left + 1),
            (left, 0, top, 0),
        ),
        (
            slice(0, top + 1),
            slice(width - right - 1, width),
            slice(0, 2 * top + 1),
            slice(padded_width - 2 * right - 1, padded_width),
            (0, right, top, 0),
        ),
        (
            slice(height - bottom - 1, height),
            slice(0, left + 1),
            slice(padded_height - 2 * bottom - 1, padded_height),
            slice(0, 2 * left + 1),
            (left, 0, 0, bottom),
        ),
        (
            slice(height - bottom - 1, height),
            slice(width - right - 1, width),
            slice(padded_height - 2 * bottom - 1, padded_height),
            slice(padded_width - 2 * right - 1, padded_width),
            (0, right, 0, bottom),
        ),
    )
    for rows, columns, padded_rows, padded_columns, corner_padding in corners:
        if 0 in (corner_padding[0] + corner_padding[1], corner_padding[2] + corner_padding[3]):
            continue  # mirrored along one side only: at most two terms, already exact
        block = gradient[..., padded_rows, padded_columns].float()
        corner = folded[..., rows, columns]
        exact = torch.ops.aten.reflection_pad2d_backward(block, corner.float(), list(corner_padding))
        corner.copy_(exact)
    return folded


def _pads_in_lower_precision(image: Tensor) -> bool:
    """Whether CPU autocast is on and would cast this input up to fp32 for padding."""
    return (
        image.device.type == "cpu"
        and torch.is_autocast_enabled("cpu")
        and image.dtype == torch.get_autocast_dtype("cpu")
        and image.dim() in (3, 4)
    )


def _folds_reflection_by_slices(image: Tensor, mode: str) -> bool:
    """Whether this is a reflection on a CPU whose gradient will be wanted: folded by slices (fp32 too)."""
    return mode == "reflect" and image.device.type == "cpu" and image.requires_grad and image.dim() in (3, 4)


class _CastFreePad:
    """The forward both cast-free pads share: pad a bf16 (or fp16) input in its own dtype under CPU autocast, fold a
    CPU reflection's gradient by slices at any precision, and otherwise do what the torch pad it is mixed into
    does."""

    mode: str  # F.pad's mode

    def forward(self, input: Tensor) -> Tensor:
        if _pads_in_lower_precision(input) or _folds_reflection_by_slices(input, self.mode):
            return _PadInInputDtype.apply(input, self.padding, self.mode)
        return super().forward(input)


class CastFreeReflectionPad2d(_CastFreePad, nn.ReflectionPad2d):
    """``nn.ReflectionPad2d`` that pads a bf16 (or fp16) input in its own dtype under CPU autocast; everywhere else
    it is ``nn.ReflectionPad2d``."""

    mode = "reflect"


class CastFreeReplicationPad2d(_CastFreePad, nn.ReplicationPad2d):
    """``nn.ReplicationPad2d`` that pads a bf16 (or fp16) input in its own dtype under CPU autocast; everywhere else
    it is ``nn.ReplicationPad2d``."""

    mode = "replicate"


_CAST_FREE = {nn.ReflectionPad2d: CastFreeReflectionPad2d, nn.ReplicationPad2d: CastFreeReplicationPad2d}


def keep_pads_in_autocast_dtype(network: nn.Module) -> nn.Module:
    """Make every plain ``nn.ReflectionPad2d`` and ``nn.ReplicationPad2d`` in ``network`` its cast-free version, in
    place (the same module objects; pads have no parameters or buffers, so checkpoints are untouched)."""
    for module in network.modules():
        cast_free = _CAST_FREE.get(type(module))
        if cast_free is not None:
            module.__class__ = cast_free
    return network
