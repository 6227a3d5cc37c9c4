"""gankit-dcgan: hook implementations only (no torch import here)."""

from gankit_core.hookspecs import hookimpl

PAPER = "Radford et al. 2016; papers 002 (DCGAN faces) and 004 (photo/cartoon faces)"


@hookimpl
def register_models(register):
    register("dcgan", "gankit_dcgan.model:DCGAN", summary="DCGAN face generation (batch 128, 64x64, z=100)",
             paper=PAPER)


@hookimpl
def register_components(register):
    register("generator", "dcgan", "gankit_dcgan.networks:DCGANGenerator",
             summary="Fractionally-strided conv generator with batch norm", paper=PAPER)
    register("discriminator", "dcgan", "gankit_dcgan.networks:DCGANDiscriminator",
             summary="Strided conv discriminator with batch norm", paper=PAPER)
