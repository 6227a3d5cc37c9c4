"""Trains tiny-wgan 3 steps and saves the weights: run alone, or under torchrun with 2 processes."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from tiny_models import TinyModels  # noqa: E402

from gankit_core import api  # noqa: E402
from gankit_core.engine import Trainer  # noqa: E402
from gankit_core.testing import registered_plugin  # noqa: E402

with registered_plugin(TinyModels(), entry_points=False):
    model = api.create_model("tiny-wgan", n_critic=2)
    settings = api.train_settings({"steps": 3, "device": "cpu", "precision": "fp32", "progress": False})
    trainer = Trainer(model, settings, write=False)
    trainer.fit()
    if trainer.dist.is_main:
        tensors = {f"{n}/{k}": v.detach().contiguous().clone() for n, m in trainer.modules.items() for k, v in m.state_dict().items()}
        save_file(tensors, sys.argv[1])
    print("world", trainer.dist.world_size, "rank", trainer.dist.rank, "noise", float(torch.rand(1)))
