"""gankit-tensorboard: hook implementations only (no torch or tensorboard import here)."""

from gankit_core.hookspecs import hookimpl


@hookimpl
def register_callbacks(register):
    register("tensorboard", "gankit_tensorboard.tracker:TensorBoardTracker",
             summary="TensorBoard events in RUN/tensorboard: scalars at every logged step, sample grids, config as hparams")
