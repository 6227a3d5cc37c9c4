"""gankit-hinge-dcgan: hook implementations only; targets are strings so no torch is imported here."""

from gankit_core.hookspecs import hookimpl

PAPER = "Miyato et al. 2018 (spectral normalisation, hinge loss) on Radford et al. 2016"


@hookimpl
def register_models(register):
    register("hinge-dcgan", "gankit_hinge_dcgan.model:HingeDCGAN",
             summary="DCGAN generator vs a spectral-norm discriminator, hinge loss", paper=PAPER)


@hookimpl
def register_components(register):
    register("discriminator", "sn-dcgan", "gankit_hinge_dcgan.model:SpectralNormDiscriminator",
             summary="DCGAN discriminator with spectral norm instead of batch norm", paper=PAPER)
