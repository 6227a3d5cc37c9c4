"""gankit-cregan: hook implementations only (no torch import here)."""

from gankit_core.hookspecs import hookimpl


@hookimpl
def register_models(register):
    register("cregan", "gankit_cregan.model:CREGAN",
             summary="Facial region exchange (eyes/mouth) between two faces, WGAN-GP",
             paper="paper 000 (CREGAN), Eq. 1-6, Algorithm 1")


@hookimpl
def register_commands(register):
    from gankit_cregan.swap import swap_command

    register(swap_command)


@hookimpl
def register_components(register):
    register("layer", "poisson-blend", "gankit_cregan.poisson:PoissonBlend",
             summary="Differentiable Poisson blending (normal or mixed gradients), as OpenCV's seamlessClone computes it",
             paper="Perez et al. 2003 (Poisson image editing); CREGAN's blend, a gankit deviation from paper 000")
