"""Channels-last (NHWC) placement of a network, and the instance norm that stays correct there.

torch 2.13's ``instance_norm`` returns a wrong input gradient (off by as much as the gradient itself) for a batch
of one image when the gradient arriving at it is channels-last, in fp32 and bf16 alike, whatever the input's own
layout. In a channels-last network that is the usual case: the next convolution's backward hands its input
gradient back channels-last. CycleGAN's and U-GAT-IT's reconstruction and discriminator passes run on one image
at batch size 1, so their generators trained on corrupted gradients (docs/speed.md has the measurement and a
five-line reproduction). Batch norm over a single image is the same normalisation (per channel, over H x W,
population variance) and its backward is right in every layout, so a one-image batch goes through it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ChannelsLastInstanceNorm2d(nn.InstanceNorm2d):
    """``nn.InstanceNorm2d`` that normalises a batch of one image as batch norm on it channels-last (the same
    statistics and affine) to avoid torch's wrong channels-last gradient there. Larger batches,
    unbatched inputs and norms with running statistics are ``nn.InstanceNorm2d``'s own computation."""

    def forward(self, input: Tensor) -> Tensor:
        if input.dim() == 4 and input.shape[0] == 1 and not self.track_running_stats:
            # Channels-last in: batch norm's backward is then right whatever strides the gradient arrives with
            # (for an NCHW input it is wrong too when that gradient is channels-last with an odd batch stride).
            image = input.contiguous(memory_format=torch.channels_last)
            return F.batch_norm(image, None, None, self.weight, self.bias, True, 0.0, self.eps)
        return super().forward(input)


def has_instance_norms(network: nn.Module) -> bool:
    """Whether ``network`` has instance norms, which torch computes in NCHW whatever layout they are given."""
    return any(isinstance(module, nn.InstanceNorm2d) for module in network.modules())


def keep_instance_norms_correct(network: nn.Module) -> nn.Module:
    """Make every plain ``nn.InstanceNorm2d`` in ``network`` (those without running statistics) a
    ``ChannelsLastInstanceNorm2d``, in place: the same module objects with the same parameters, buffers and
    hooks, so references, optimizers and checkpoints (state-dict keys) are untouched."""
    for module in network.modules():
        if type(module) is nn.InstanceNorm2d and not module.track_running_stats:
            module.__class__ = ChannelsLastInstanceNorm2d
    return network


def to_channels_last(network: nn.Module) -> nn.Module:
    """``network`` in channels-last memory format, its instance norms correct there (in place)."""
    return keep_instance_norms_correct(network.to(memory_format=torch.channels_last))
