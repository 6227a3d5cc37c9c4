"""Where a run's tensors live and in what form: the device, the precision, the distributed context and the memory
format. It places networks (identical on every rank) and batches (normalised to [-1, 1] on the device)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gankit_core.engine import distributed
from gankit_core.engine.allocator import keep_freed_memory
from gankit_core.engine.distributed import DistributedContext
from gankit_core.engine.layout import to_channels_last
from gankit_core.engine.pads import keep_pads_in_autocast_dtype
from gankit_core.engine.precision import Precision, choose_device, choose_precision
from gankit_core.images import to_unit


@dataclass(frozen=True)
class Placement:
    device: torch.device
    precision: Precision
    dist: DistributedContext
    channels_last: bool

    @classmethod
    def choose(cls, device: str, precision: str, channels_last: str, nhwc_pays_on_cpu: bool,
               instance_norms: bool = False) -> Placement:
        """Resolve the settings (``auto`` included) on this machine, joining torchrun's process group if any.
        ``instance_norms``: whether the networks have instance norms (they keep a CPU run NCHW)."""
        chosen = choose_device(device, distributed.local_rank_hint())
        context = distributed.init_distributed(chosen.type)
        if chosen.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True  # TF32 on Ampere+: fp32 matmuls at tensor-core speed
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True
        else:
            keep_freed_memory()  # large CPU tensors reused in place, not mapped and faulted in again each pass
        mode = choose_precision(precision, chosen)
        if channels_last == "auto":
            # NHWC feeds tensor cores on GPUs; on CPUs it pays for activation-heavy convs (DCGAN) but not for
            # weight-heavy nets on tiny maps (CREGAN's critic), so the model says which it is. On a CPU, networks
            # with instance norms stay NCHW at any precision: torch's instance norm hands NCHW back, so each norm
            # costs layout copies both ways, and oneDNN's NCHW convolutions are as fast (docs/speed.md: CycleGAN's
            # fp32 step went from 0.89x to 1.06x the reference's, its bf16 step from 1.65x to 1.82x).
            nhwc = chosen.type == "cuda" or (nhwc_pays_on_cpu and not instance_norms)
        else:
            nhwc = channels_last == "on"
        return cls(chosen, Precision(mode, chosen), context, nhwc)

    def place(self, module: nn.Module) -> nn.Module:
        """``module`` on the device, NHWC where chosen (its instance norms made right there), its pads free of
        autocast's fp32 casts on a CPU (reflections' gradients folded by slices), with rank 0's weights on every
        rank."""
        if self.dist.enabled and self.device.type == "cuda":
            module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
        module.to(self.device)
        if self.channels_last:
            to_channels_last(module)
        if self.device.type == "cpu":
            keep_pads_in_autocast_dtype(module)
        distributed.broadcast_module(module, self.dist)
        return module

    def layout(self, images: Tensor) -> Tensor:
        """A 4-D image tensor in the run's memory format."""
        if self.channels_last and images.dim() == 4:
            return images.contiguous(memory_format=torch.channels_last)
        return images

    def prepare_batch(self, raw: dict[str, Tensor]) -> dict[str, Tensor]:
        """Move a uint8 batch to the device and normalise its images to [-1, 1] there."""
        batch = {}
        for key, value in raw.items():
            value = value.to(self.device, non_blocking=True)
            if value.dtype == torch.uint8 and value.dim() == 4:
                value = self.layout(to_unit(value))
            batch[key] = value
        return batch
