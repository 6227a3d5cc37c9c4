"""gankit-wandb: hook implementations only (no wandb import here)."""

from gankit_core.hookspecs import hookimpl


@hookimpl
def register_callbacks(register):
    register("wandb", "gankit_wandb.tracker:WandbTracker",
             summary="Weights & Biases, offline only: a run folder in RUN/wandb for 'wandb sync' (never the network)")
