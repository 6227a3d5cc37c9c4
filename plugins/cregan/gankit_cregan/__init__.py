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
