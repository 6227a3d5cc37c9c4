"""The Python API in one short script (CI runs it): query the registry, build models and components by
name, train, reload a checkpoint and sample from it. Usage: python examples/python_api.py [OUT_DIR]"""

import sys
import tempfile
from pathlib import Path

from gankit_core import create_component, create_model, list_entries, list_models, load_checkpoint, train
from gankit_core.images import save_grid

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="gankit-example-"))

# What is installed: models matching a glob, and every discriminator with the plugin that gave it.
print("models:", list_models("*gan*"))
for entry in list_entries(kind="discriminator"):
    print(f"  discriminator {entry.name:<14} from {entry.plugin}  ({entry.paper})")

# Components by name, with overrides: the dilated generator of CREGAN at 64 px.
generator = create_component("generator", "dilated", width=8, image_size=64)
print("dilated generator parameters:", sum(p.numel() for p in generator.parameters()))

# A model by name with config overrides (paper defaults otherwise), trained for a few steps.
model = create_model("dcgan", image_size=32, batch_size=16, g_features=16, d_features=16,
                     data="synthetic-faces:n=64,identities=16")
result = train(model, steps=20, out=out / "dcgan", progress=False, sample_every=10, log_every=5)
print(f"trained to step {result.step}: loss_d {result.metrics['loss_d']:.3f}, loss_g {result.metrics['loss_g']:.3f}")

# Reload the checkpoint and sample from it.
loaded = load_checkpoint(result.checkpoint)
images = loaded.sample(16, seed=1)
grid = save_grid(images, out / "samples.png")
print(f"wrote {grid} from the step-{loaded.step} checkpoint; report: {result.run_dir / 'report.html'}")
