"""gankit-unet-landmark: hook implementations only (no torch import here)."""

from gankit_core.hookspecs import hookimpl

PAPER = "paper 003 (Fan et al. 2023, facial expression transfer based on cGAN)"


@hookimpl
def register_models(register):
    register("expression", "gankit_unet_landmark.model:ExpressionTransfer",
             summary="Facial expression transfer: landmark fusion, then a U-Net with a PatchGAN (two stages)",
             paper=f"{PAPER}, Eq. 1-9, section V")


@hookimpl
def register_components(register):
    register("generator", "unet", "gankit_unet_landmark.networks:UNet",
             summary="Modified U-Net: image + landmark map (4 channels) -> face, skip connections", paper=f"{PAPER}, Table 1")
    register("generator", "landmark-fusion", "gankit_unet_landmark.networks:LandmarkFusion",
             summary="Landmark fusion autoencoder: target landmarks wearing the source's expression", paper=f"{PAPER}, Eq. 1")
    register("discriminator", "patchgan-sn", "gankit_unet_landmark.networks:PatchGANSN",
             summary="Markov (PatchGAN) discriminator with spectral norm, 30x30 patch logits at 256 px",
             paper=f"{PAPER}, Table 2")


@hookimpl
def register_commands(register):
    from gankit_unet_landmark.transfer import transfer_command

    register(transfer_command)
