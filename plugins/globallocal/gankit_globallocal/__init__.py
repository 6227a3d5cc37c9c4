"""gankit-globallocal: hook implementations only (no torch import here)."""

from gankit_core.hookspecs import hookimpl

PAPER = "paper 000 (CREGAN), Table II and Eq. 4"


@hookimpl
def register_components(register):
    register("discriminator", "global-local", "gankit_globallocal.discriminator:GlobalLocalDiscriminator",
             summary="Global branch + masked local branch, concatenated to one score (CREGAN Table II)", paper=PAPER)
    register("layer", "local-mask", "gankit_globallocal.mask:LocalMask",
             summary="Distance-attenuated local mask: 1 in the box, gamma^(k*d) outside (CREGAN Eq. 4)", paper=PAPER)
