"""Trains tiny-wgan 3 steps and saves the weights: run alone, or under torchrun with 2 processes.

With a second argument ``nan-on-rank-1`` the critic's loss is NaN on rank 1 only, at step 2: every rank must
agree to skip that step (none may wait in a gradient all-reduce the other skipped)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from tiny_models import TinyModels  # noqa: E402

from gankit_core import api  # noqa: E402
from gankit_core.engine import Trainer  # noqa: E402
from gankit_core.testing import registered_plugin  # noqa: E402

nan_on_rank_1 = sys.argv[2:] == ["nan-on-rank-1"]

with registered_plugin(TinyModels(), entry_points=False):
    model = api.create_model("tiny-wgan", n_critic=2)
    if nan_on_rank_1:
        plain_step = model.train_step

        def train_step(nets, batch, step):
            rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
            if rank == 1 and step.index == 1:
                step.optimize("discriminator", torch.tensor(float("nan"), requires_grad=True))
            return plain_step(nets, batch, step)

        model.train_step = train_step
    settings = api.train_settings({"steps": 3, "device": "cpu", "precision": "fp32", "progress": False})
    trainer = Trainer(model, settings, write=False)
    result = trainer.fit()
    if trainer.placement.dist.is_main:
        tensors = {f"{n}/{k}": v.detach().contiguous().clone() for n, m in trainer.modules.items() for k, v in m.state_dict().items()}
        save_file(tensors, sys.argv[1])
    checksum = sum(float(p.double().sum()) for m in trainer.modules.values() for p in m.parameters())
    print("world", trainer.placement.dist.world_size, "rank", trainer.placement.dist.rank, "noise", float(torch.rand(1)),
          "skipped", result.skipped_steps, "checksum", repr(checksum))
