"""gankit-cyclegan: hook implementations only (no torch import here)."""

from gankit_core.hookspecs import hookimpl

PAPER = "Zhu et al. 2017 (CycleGAN); the baseline of paper 001, Table 1"


@hookimpl
def register_models(register):
    register("cyclegan", "gankit_cyclegan.model:CycleGAN",
             summary="Unpaired translation: two resnet generators, two PatchGANs, LSGAN, cycle and identity",
             paper=PAPER)


@hookimpl
def register_components(register):
    register("generator", "resnet", "gankit_cyclegan.networks:ResnetGenerator",
             summary="ResNet generator: 9 residual blocks, reflection padding, instance norm", paper=PAPER)
    register("discriminator", "patchgan", "gankit_cyclegan.networks:PatchGANDiscriminator",
             summary="70x70 PatchGAN discriminator (3 layers, instance norm)", paper=PAPER)
