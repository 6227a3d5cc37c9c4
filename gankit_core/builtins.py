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
    register("synthetic-unpaired", "gankit_core.data.synthetic_dataset:synthetic_unpaired",
             summary="Synthetic faces as two unpaired domains, photo (A) and cartoon (B) by default (built in)")
    register("folder", "gankit_core.data.folders:image_folder",
             summary="Every image under a folder (CelebA, LFW, a photo or cartoon set): folder:PATH")
    register("unpaired", "gankit_core.data.folders:unpaired_folder",
             summary="Unpaired domains from trainA/ trainB/ (horse2zebra, selfie2anime): unpaired:PATH")
    register("celeba", "gankit_core.data.folders:celeba",
             summary="CelebA images with the 5-point landmark file; eye/mouth boxes: celeba:PATH")
    register("expression", "gankit_core.data.folders:expression_pairs",
             summary="Paired expression sets (RaFD, CK+ layouts) with 68 landmarks: expression:PATH")
    register("synthetic-expression", "gankit_core.data.expression_triples:synthetic_expression",
             summary="Expression-transfer triples (source, target, true result) from the synthetic faces (built in)")
    register("expression-triples", "gankit_core.data.expression_triples:expression_triples",
             summary="Expression-transfer triples from a paired expression folder: expression-triples:PATH")


@hookimpl
def register_metrics(register):
    # A metric is what `gankit eval --metric NAME` calls with an Evaluation (gankit_core.metrics.evaluation).
    # SSIM, PSNR and MEQFI compare pairs or read human ratings, so they are library functions and commands,
    # not checkpoint metrics; the Inception Score needs a classifier with logits that nothing ships offline.
    register("fid", "gankit_core.metrics.evaluation:fid_metric",
             summary="Fréchet Inception Distance with an offline Inception-v3", paper="Heusel et al. 2017; paper 002 Eq. 3")
    register("kid", "gankit_core.metrics.evaluation:kid_metric",
             summary="Kernel Inception Distance (unbiased cubic-kernel MMD)", paper="Bińkowski et al. 2018")


@hookimpl
def register_callbacks(register):
    register("console", "gankit_core.callbacks:ConsoleLog",
             summary="One plain line per logged step on stdout, for runs without a terminal (--no-progress)")
