"""Core's own contributions, registered through the same hooks as any plugin (no torch at import)."""

from __future__ import annotations

from gankit_core.hookspecs import hookimpl


@hookimpl
def register_components(register):
    register("loss", "bce", "gankit_core.losses:NonSaturatingLoss",
             summary="Non-saturating BCE GAN loss", paper="Goodfellow et al. 2014")
    register("loss", "lsgan", "gankit_core.losses:LeastSquaresLoss",
             summary="Least-squares GAN loss (real -> 1, fake -> 0)", paper="Mao et al. 2017")
    register("loss", "wgan", "gankit_core.losses:WassersteinLoss",
             summary="Wasserstein critic loss, for use with a gradient penalty", paper="Gulrajani et al. 2017")
    register("loss", "hinge", "gankit_core.losses:HingeLoss",
             summary="Hinge GAN loss", paper="Lim & Ye 2017")


@hookimpl
def register_datasets(register):
    register("synthetic-faces", "gankit_core.data.synthetic_dataset:synthetic_faces",
             summary="Procedural faces with exact landmarks, boxes, identities and expressions (built in)")
    register("folder", "gankit_core.data.folders:image_folder",
             summary="Every image under a folder (CelebA, LFW, a photo or cartoon set): folder:PATH")
    register("unpaired", "gankit_core.data.folders:unpaired_folder",
             summary="Unpaired domains from trainA/ trainB/ (horse2zebra, selfie2anime): unpaired:PATH")
    register("celeba", "gankit_core.data.folders:celeba",
             summary="CelebA images with the 5-point landmark file; eye/mouth boxes: celeba:PATH")
    register("expression", "gankit_core.data.folders:expression_pairs",
             summary="Paired expression sets (RaFD, CK+ layouts) with 68 landmarks: expression:PATH")


@hookimpl
def register_metrics(register):
    register("fid", "gankit_core.metrics.fid:frechet_distance",
             summary="Fréchet Inception Distance with an offline Inception-v3", paper="Heusel et al. 2017; paper 002 Eq. 3")
    register("kid", "gankit_core.metrics.fid:kernel_inception_distance",
             summary="Kernel Inception Distance (unbiased cubic-kernel MMD)", paper="Bińkowski et al. 2018")
    register("inception-score", "gankit_core.metrics.fid:inception_score",
             summary="Inception Score, given a classifier with logits", paper="Salimans et al. 2016; paper 002 Eq. 2")
    register("ssim", "gankit_core.metrics.image_quality:ssim",
             summary="Structural similarity (Gaussian 11x11, as scikit-image)", paper="Wang et al. 2004; paper 003")
    register("psnr", "gankit_core.metrics.image_quality:psnr",
             summary="Peak signal-to-noise ratio in dB", paper="paper 003")
    register("meqfi", "gankit_core.metrics.meqfi:score_ratings",
             summary="MEQFI human-rating score from rating sheets", paper="paper 002 Eq. 4")
