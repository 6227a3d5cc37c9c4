"""Device and precision choice, and the autocast context the engine hands models."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from gankit_core.errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def choose_device(spec: str, local_rank: int = 0) -> torch.device:
    """``auto`` is CUDA when present (this rank's GPU under torchrun), else the CPU."""
    if spec == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ConfigError(f"unknown device {spec!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {spec!r} asked for, but this machine has no CUDA GPU")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {spec!r} asked for, but only {torch.cuda.device_count()} GPU(s) exist")
    elif device.type != "cpu":
        raise ConfigError(f"unsupported device {spec!r}; use auto, cpu, cuda or cuda:N")
    return device


def cpu_has_native_bf16() -> bool:
    """True on CPUs whose oneDNN runs bf16 natively (AVX512-BF16 or AMX), where bf16 is faster than fp32."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


def choose_precision(spec: str, device: torch.device) -> str:
    """Resolve ``auto`` to the fastest safe mode: bf16 where the hardware has it, else fp16 (GPU) or fp32 (CPU)."""
    if spec not in PRECISIONS:
        raise ConfigError(f"unknown precision {spec!r}; use {', '.join(PRECISIONS)}")
    if spec != "auto":
        if spec == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError("bf16 asked for, but this GPU does not support it; use fp16 or auto")
        return spec
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_native_bf16() else "fp32"


@dataclass(frozen=True)
class Precision:
    """A resolved precision on a device: the autocast context and whether losses need scaling."""

    mode: str
    device: torch.device

    @property
    def dtype(self) -> torch.dtype:
        return _DTYPES[self.mode]

    @property
    def needs_loss_scaling(self) -> bool:
        # fp16's narrow exponent underflows small gradients; bf16 has fp32's range and needs none.
        return self.mode == "fp16"

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.mode == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)
