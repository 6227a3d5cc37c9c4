"""gankit-dilated: hook implementations only (no torch import here)."""

from gankit_core.hookspecs import hookimpl


@hookimpl
def register_components(register):
    register("generator", "dilated", "gankit_dilated.generator:DilatedGenerator",
             summary="Dilated-convolution image-to-image generator (CREGAN Table I)",
             paper="paper 000 (CREGAN), Table I")
