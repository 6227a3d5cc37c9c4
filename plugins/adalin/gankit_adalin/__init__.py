"""gankit-adalin: hook implementations only (no torch import here)."""

from gankit_core.hookspecs import hookimpl

PAPER = "paper 001 (CycleGAN with CAM attention and AdaLIN, after U-GAT-IT, Kim et al. 2019)"


@hookimpl
def register_models(register):
    register("ugatit", "gankit_adalin.model:UGATIT",
             summary="Unpaired translation with CAM attention and AdaLIN; global + local discriminators", paper=PAPER)


@hookimpl
def register_components(register):
    register("layer", "adalin", "gankit_adalin.layers:AdaLIN",
             summary="Adaptive layer-instance norm: rho-mixed IN and LN with per-image gamma/beta", paper=PAPER)
    register("layer", "lin", "gankit_adalin.layers:LIN",
             summary="Layer-instance norm with learned gamma/beta (the up-sampling path)", paper=PAPER)
    register("generator", "ugatit", "gankit_adalin.networks:UGATITGenerator",
             summary="CAM-attention generator with AdaLIN residual blocks (light or full gamma/beta MLP)", paper=PAPER)
    register("discriminator", "ugatit", "gankit_adalin.networks:UGATITDiscriminator",
             summary="Spectral-norm discriminator with CAM, global (7 layers) or local (5 layers)", paper=PAPER)
