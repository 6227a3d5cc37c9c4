"""Weight initialisation the GAN papers share: N(0, 0.02) for convolutions (Radford et al.'s DCGAN, kept by pix2pix
and CycleGAN), and a layer started at zero (a residual branch that makes its network start as the identity)."""

from __future__ import annotations

import weakref

from torch import nn
from torch.nn.utils import parametrize

# Layers start_at_zero zeroed, held weakly: they go with their network.
_STARTED_AT_ZERO: weakref.WeakSet[nn.Module] = weakref.WeakSet()


def init_weights(module: nn.Module) -> None:
    """``network.apply(init_weights)``: conv and transposed-conv weights N(0, 0.02) (under spectral norm, the weight
    it normalises) and biases 0; batch-norm scales N(1, 0.02) and shifts 0. A layer ``start_at_zero`` zeroed keeps
    its zeros; other layers keep their own initialisation."""
    if module in _STARTED_AT_ZERO:
        return
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        if parametrize.is_parametrized(module, "weight"):
            weight = module.parametrizations.weight.original
        else:
            weight = module.weight
        nn.init.normal_(weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def start_at_zero(layer: nn.Module) -> None:
    """Zero a layer's weight and bias, for good: ``init_weights`` leaves it at zero (an identity start)."""
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    _STARTED_AT_ZERO.add(layer)
