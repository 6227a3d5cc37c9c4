"""Unpaired image-to-image translation shared by every two-domain model (ugatit, cyclegan, third parties):
the ``Translator`` interface, ``gankit translate``, the sample grid's heatmap overlay and the evaluation.

It lives in the core so that the plugins that implement translation need not depend on one another:
a model that subclasses ``Translator`` gets the command and the evaluation with no code of its own.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gankit_core.cli_options import device_option, force_option
from gankit_core.errors import ConfigError, DataError, GankitError

DIRECTIONS = ("a2b", "b2a")
if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor

# torch is imported inside the functions: the CLI imports this module for its command, and `gankit --help`
# must not pay for torch.
BATCH = 16  # images translated per forward pass by gankit translate and the evaluation


class Translator:
    """A model that maps images of domain A (its data's ``image``) to domain B (``image_b``) and back, with
    generators named ``gen_a2b`` and ``gen_b2a``. Listed before ``Model`` in a model's bases, it gives the
    inference side every such model shares: translation, sample inputs, and ``generate``."""

    inference_networks = ("gen_a2b", "gen_b2a")
    batch_fields = ("image", "image_b")
    sample_needs_data = True
    own_metrics = ("translation",)
    default_metrics = ("translation",)

    def translate(self, nets: Any, images: Tensor, direction: str) -> Tensor:
        """``images`` (N x 3 x S x S in [-1, 1], S the model's size) translated ``a2b`` or ``b2a``."""
        generators = {"a2b": nets.gen_a2b, "b2a": nets.gen_b2a}
        return generators[direction](images)

    def sample_inputs(self, n: int, batch: dict[str, Tensor], generator: Any) -> dict[str, Tensor]:
        return {"a": batch["image"][:n], "b": batch["image_b"][:n]}

    def generate(self, nets: Any, inputs: dict[str, Tensor]) -> Tensor:
        # B -> A: its target domain is the data's ``image``, what the core's FID/KID compare against.
        return self.translate(nets, inputs["b"], "b2a")

    def evaluate(self, evaluation: Any) -> dict[str, float]:
        return evaluate_translation(self, evaluation.loaded, evaluation.count, seed=evaluation.seed,
                                    data=evaluation.data, inception=evaluation.inception,
                                    reference=evaluation.baseline)  # --baseline RUN: the paired oracle, or any variant


# ------------------------------------------------------------------------------ shared model options
# What version 1 of ugatit's and cyclegan's configs meant for every option added since (the paper's forms), for
# their ``config_migrations``.
TRANSLATION_VERSION_1 = {"residual": False, "identity_start": False, "base_a2b": "input", "base_b2a": "input",
                         "base_weight": 0.0, "residual_blur_a2b": 0.0, "residual_blur_b2a": 0.0, "residual_shrink": 0.0,
                         "cycle_a_scale": 1.0, "paired_weight": 0.0}


def check_generator_start(config: Any) -> None:
    """A translation config's ``identity_start``, ``base_a2b``/``base_b2a``, ``base_weight`` and correction filters
    (``residual_blur_a2b``/``residual_blur_b2a``, ``residual_shrink``) need ``residual``: only a residual generator
    starts as the identity, adds its output to a classical tool's, or has a correction to filter."""
    from gankit_core.classical import BASES, MAX_RESIDUAL_BLUR

    for name, base in (("base_a2b", config.base_a2b), ("base_b2a", config.base_b2a)):
        if base not in BASES:
            raise ConfigError(f"{name} must be one of {', '.join(BASES)}, not {base!r}")
    for name, value in (("residual_blur_a2b", config.residual_blur_a2b), ("residual_blur_b2a", config.residual_blur_b2a),
                        ("residual_shrink", config.residual_shrink)):
        if value < 0:
            raise ConfigError(f"{name} must be 0 (none) or more, not {value}")
        if name != "residual_shrink" and value > MAX_RESIDUAL_BLUR:
            raise ConfigError(f"{name} must be at most {MAX_RESIDUAL_BLUR} px (at 64 px, scaled with the image), "
                              f"not {value}")
    if config.residual:
        return
    # All of them in one line: `--preset cpu --set residual=false` turns off what the preset's other values need
    needing = [name for name, value in (
        ("identity_start", config.identity_start), (f"base_a2b={config.base_a2b}", config.base_a2b != "input"),
        (f"base_b2a={config.base_b2a}", config.base_b2a != "input"), ("base_weight", config.base_weight),
        ("residual_blur_a2b", config.residual_blur_a2b), ("residual_blur_b2a", config.residual_blur_b2a),
        ("residual_shrink", config.residual_shrink)) if value]
    if needing:
        raise ConfigError(f"{', '.join(needing)} need{'s' if len(needing) == 1 else ''} residual=true: only a residual "
                          "generator starts as the identity, adds its output to a base or has a correction to filter")


def check_generator_base(config: Any, network: Any) -> None:
    """A classical base or ``base_weight`` needs a generator that has a ``base`` (resnet, ugatit): another one
    would drop the option and fail at the first step, so it is refused when the networks are built."""
    wants_base = (config.base_weight or config.residual_blur_a2b or config.residual_blur_b2a or config.residual_shrink
                  or config.base_a2b != "input" or config.base_b2a != "input")
    if config.residual and wants_base and "base" not in dict(network.named_children()):
        raise ConfigError(f"generator '{config.generator}' has no residual base: base_a2b, base_b2a, base_weight, "
                          "residual_blur_a2b/b2a and residual_shrink need generator=resnet (cyclegan) or ugatit")


def generator_options(config: Any, direction: str) -> dict[str, Any]:
    """The residual options a translation config gives its ``direction``'s generator. Only a residual run names
    them, and only a classical base names ``base``, so a generator without these options still plugs in."""
    if not config.residual:
        return {}
    options = {"residual": True, "identity_start": config.identity_start}
    base, blur = ((config.base_a2b, config.residual_blur_a2b) if direction == "a2b"
                  else (config.base_b2a, config.residual_blur_b2a))
    if base != "input":
        options["base"] = base
    if blur:
        options["residual_blur"] = blur
    if config.residual_shrink:
        options["residual_shrink"] = config.residual_shrink
    return options


def check_paired(config: Any) -> None:
    """``paired_weight`` trains against ``image_b`` as each ``image``'s twin: on the built-in faces that needs
    ``paired=true`` data, or the L1 would pull every face toward a stranger's."""
    from gankit_core.data import parse_options, parse_spec
    from gankit_core.data.synthetic_dataset import UNPAIRED_OPTIONS

    name, argument = parse_spec(config.data)
    if config.paired_weight and name == "synthetic-unpaired" and not parse_options(
            argument, UNPAIRED_OPTIONS, name).get("paired", False):
        raise ConfigError("paired_weight trains the paired oracle, which needs twins as its data: "
                          "--data synthetic-unpaired:paired=true")


def cycle_l1(reconstructed: dict[str, Tensor], real: dict[str, Tensor], a_scale: float = 1.0) -> Tensor:
    """The cycle-consistency term: |G_ba(G_ab(a)) - a|_1 times ``a_scale`` plus |G_ab(G_ba(b)) - b|_1, as the
    reference CycleGAN weighs its two cycles apart (``--lambda_A``, ``--lambda_B``). A photo's grain and texture
    cannot survive a flat cartoon; at full weight the a -> b -> a cycle makes G_ab hide them in its cartoons."""
    return (a_scale * (reconstructed["a"].float() - real["a"].float()).abs().mean()
            + (reconstructed["b"].float() - real["b"].float()).abs().mean())


def base_l1(nets: Any, real: dict[str, Tensor], fake: dict[str, Tensor]) -> Tensor:
    """How far each residual generator's translation moved from its base (``base_a2b``/``base_b2a``: the input
    itself, or a classical tool's output), as a mean L1. Weighed by ``base_weight``, it keeps a generator at the
    classical tool wherever the discriminators do not ask for a change, instead of drifting into texture."""
    import torch

    with torch.no_grad():
        start = {"b": nets.gen_a2b.base(real["a"]), "a": nets.gen_b2a.base(real["b"])}
    return sum((fake[d].float() - start[d].float()).abs().mean() for d in ("a", "b"))


def paired_l1(fake: dict[str, Tensor], real: dict[str, Tensor]) -> Tensor:
    """The paired oracle's term (pix2pix's L1): each translation against its twin, which ``paired=true`` data
    gives as the other domain's image at the same index. Never part of an unpaired model's training."""
    return (fake["b"].float() - real["b"].float()).abs().mean() + (fake["a"].float() - real["a"].float()).abs().mean()


def overlay_heatmap(images: Tensor, heatmap: Tensor) -> Tensor:
    """An attention heatmap (N x 1 x h x w, any scale) in a jet colour map over ``images`` (N x 3 x S x S in
    [-1, 1]), half and half, as U-GAT-IT shows its CAM: each map stretched to [0, 1] on its own."""
    import torch

    heat = torch.nn.functional.interpolate(heatmap.float(), size=images.shape[-2:], mode="bilinear",
                                           align_corners=False)
    low, high = heat.amin((2, 3), keepdim=True), heat.amax((2, 3), keepdim=True)
    heat = (heat - low) / (high - low).clamp_min(1e-8)
    # The jet colour map as three clipped ramps: blue (cold) -> cyan -> yellow -> red (hot).
    jet = torch.cat([(1.5 - (4 * heat - 3).abs()).clamp(0, 1), (1.5 - (4 * heat - 2).abs()).clamp(0, 1),
                     (1.5 - (4 * heat - 1).abs()).clamp(0, 1)], 1)
    return 0.5 * images.float() + 0.5 * (jet * 2 - 1)


# ----------------------------------------------------------------------------------------- evaluation
# The classical tools a practitioner would use instead of a trained model, for the built-in domains.
CARTOON_FILTER = {"sigma_s": 20, "sigma_r": 0.3}  # OpenCV's edge-preserving stylization, photo -> cartoon
SMOOTHING = {"close": 5, "sigma": 1.5, "noise": 4.0}  # at 64 px (scaled with the size): cartoon -> photo


def cartoon_filter(images: Tensor) -> Tensor:
    """OpenCV's cartoon filter, ``cv2.stylization(sigma_s=20, sigma_r=0.3)``, on uint8 N x 3 x H x W RGB images:
    edge-preserving smoothing to flat colour, with dark edges. Photo to cartoon with no training."""
    import cv2
    import numpy as np
    import torch

    out = [cv2.cvtColor(cv2.stylization(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR), **CARTOON_FILTER),
                        cv2.COLOR_BGR2RGB) for image in images.permute(0, 2, 3, 1).numpy()]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def smooth_and_noise(images: Tensor, seed: int = 0) -> Tensor:
    """Cartoon to photo, classically, on uint8 N x 3 x H x W images: a morphological closing erases the dark
    outlines, a Gaussian blur softens the flat colours into shading, and Gaussian grain is added (photos have it,
    cartoons do not). Sizes are the ones measured best against the twins at 64 px, scaled with the image."""
    import cv2
    import numpy as np
    import torch

    scale = images.shape[-1] / 64
    close = max(1, round(SMOOTHING["close"] * scale) // 2 * 2 + 1)  # odd
    kernel = np.ones((close, close), np.uint8)
    rng = np.random.default_rng(seed)
    out = []
    for image in images.permute(0, 2, 3, 1).numpy():
        smooth = cv2.GaussianBlur(cv2.morphologyEx(image, cv2.MORPH_CLOSE, kernel), (0, 0), SMOOTHING["sigma"] * scale)
        out.append(np.clip(smooth + rng.normal(0, SMOOTHING["noise"], smooth.shape), 0, 255).astype(np.uint8))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


CLASSICAL = {("photo", "cartoon"): ("cartoon_filter", cartoon_filter),
             ("cartoon", "photo"): ("smooth_noise", smooth_and_noise)}
BUILT_IN_STYLES = {"a2b": ("photo", "cartoon"), "b2a": ("cartoon", "photo")}  # each direction's (source, target)


def _test_sets(model, count: int, seed: int, data: str | None) -> tuple[Any, ...]:
    """Held-out uint8 images: (sources in A, sources in B, reference B, reference A, twins of the A sources in B,
    twins of the B sources in A, the two styles). Twins exist only for the built-in synthetic domains (None
    otherwise), whose faces can be rendered in either style; the references are other faces than the sources.
    A paired oracle's ``paired=true`` is dropped: every run is measured on the same unpaired test sets."""
    import torch

    from gankit_core.data import open_dataset, parse_options, parse_spec
    from gankit_core.data.synthetic_dataset import UNPAIRED_OPTIONS, translation_twins

    spec = data or model.config.data
    size = model.config.image_size
    name, argument = parse_spec(spec)
    if name == "synthetic-unpaired":
        options = parse_options(argument, UNPAIRED_OPTIONS, name)
        options.pop("paired", None)
        styles = options.get("a", "photo"), options.get("b", "cartoon")
        twins_a, twins_b = translation_twins(seed + 1, count, size, styles, options.get("identities", 1000))
        kept = "".join(f"{key}={str(value).lower()}," for key, value in options.items() if key not in ("split", "n"))
        reference = open_dataset(f"synthetic-unpaired:{kept}split=test,n={count}", size, seed=seed)
        return (torch.from_numpy(twins_a), torch.from_numpy(twins_b), reference.fields["image_b"],
                reference.fields["image"], torch.from_numpy(twins_b), torch.from_numpy(twins_a), styles)
    if name == "unpaired" and argument and "split=" not in argument:
        spec = f"{spec},split=test"  # the held-out testA/ testB/ folders
    dataset = open_dataset(spec, size, seed=seed)
    if "image_b" not in dataset.fields:
        raise DataError(f"translation is evaluated on two domains (image and image_b); '{spec}' gives one")
    a, b = dataset.fields["image"][:count], dataset.fields["image_b"][:count]
    return a, b, b, a, None, None, None


def _translated(model: Translator, loaded: Any, source: Tensor, direction: str) -> Tensor:
    import torch

    from gankit_core.images import to_uint8, to_unit

    with torch.no_grad():
        return torch.cat([to_uint8(model.translate(loaded.nets, to_unit(chunk.to(loaded.device)), direction).float())
                          for chunk in source.split(BATCH)])


def evaluate_translation(model: Translator, loaded: Any, count: int, seed: int = 0, data: str | None = None,
                         inception: str | None = None, reference: Any = None) -> dict[str, float]:
    """For each direction: KID and FID of the translations against the target domain, SSIM and PSNR against
    each source's true twin (synthetic domains); the same for the identity baseline (the input unchanged) and,
    on the built-in photo and cartoon faces, the classical tool for that direction (``CLASSICAL``).

    ``reference``: another loaded run, reported as ``oracle_`` when it was trained on the twins
    (``paired_weight``), else as ``baseline_``. Beside an oracle, ``*_gap_closed`` is the share of the
    identity-to-oracle distance this checkpoint and the classical tool cover (1: as good as the oracle)."""
    from gankit_core.metrics.fid import frechet_distance_of_features, kernel_inception_distance
    from gankit_core.metrics.image_quality import psnr, ssim
    from gankit_core.metrics.inception import InceptionFeatures

    source_a, source_b, target_b, target_a, twin_b, twin_a, styles = _test_sets(model, count, seed, data)
    extractor = InceptionFeatures(inception, device=loaded.device)
    # paired_weight is a config value of the two built-in translators; a third party's config may not have it
    oracle = reference is not None and dataclasses.asdict(reference.model.config).get("paired_weight", 0) > 0
    reference_name = "oracle_" if oracle else "baseline_"
    results: dict[str, float] = {}
    for direction, source, target, twin in (("a2b", source_a, target_b, twin_b), ("b2a", source_b, target_a, twin_a)):
        methods = {"": _translated(model, loaded, source, direction), "identity_": source}
        classical = CLASSICAL.get(styles if direction == "a2b" else styles[::-1]) if styles else None
        if classical is not None:
            methods[f"{classical[0]}_"] = classical[1](source)
        if reference is not None:
            methods[reference_name] = _translated(reference.model, reference, source, direction)
        target_features = extractor(target)
        for method, images in methods.items():
            features = extractor(images)
            kid, _ = kernel_inception_distance(features, target_features, seed=seed)
            results[f"{direction}/{method}kid"] = kid
            results[f"{direction}/{method}fid"] = frechet_distance_of_features(features, target_features)
            if twin is not None:
                results[f"{direction}/{method}ssim"] = float(ssim(images, twin, (0, 255)).mean())
                results[f"{direction}/{method}psnr"] = float(psnr(images, twin, (0, 255)).mean())
        if oracle:
            metrics = ("kid", "ssim", "psnr") if twin is not None else ("kid",)
            for method in methods:
                if method in ("identity_", reference_name):
                    continue
                for metric in metrics:
                    start, best = results[f"{direction}/identity_{metric}"], results[f"{direction}/oracle_{metric}"]
                    value = results[f"{direction}/{method}{metric}"]
                    results[f"{direction}/{method}{metric}_gap_closed"] = (value - start) / (best - start)
    return results


# ------------------------------------------------------------------------------------- gankit translate
def _output_path(source: Path, root: Path | None, out: Path, direction: str) -> Path:
    """Where the translation of ``source`` goes under the folder ``out``, keeping its place under ``root``."""
    relative = source.relative_to(root) if root is not None else Path(source.name)
    return out / relative.parent / f"{relative.stem}-{direction}.png"


def _planned_outputs(source: Path, out: Path, direction: str, force: bool,
                     checkpoint: Path) -> tuple[list[Path], dict[Path, Path], int]:
    """The images to translate, where each goes, and how many earlier outputs were left out, all checked by
    the overwrite rule before the checkpoint is loaded. Translating a folder into itself (or into a folder
    under it) finds the translations of an earlier run among the inputs: those are left out, so a second run
    writes ``x-a2b.png`` again instead of adding ``x-a2b-a2b.png``."""
    from gankit_core.data.folders import list_images
    from gankit_core.outputs import FILE_SUFFIXES, OutputRefused, check_file, check_files, check_folder

    if source.is_file():
        if out.suffix.lower() == ".png":
            return [source], {source: check_file(out, (".png",), "a PNG image", force=force,
                                                 inputs=[source, checkpoint])}, 0
        if out.suffix.lower() in FILE_SUFFIXES and not out.is_dir():
            raise OutputRefused(f"{out}: translate writes a PNG image; give a .png file or a folder")
        check_folder(out, "the translated image")
        targets = {source: _output_path(source, None, out, direction)}
        check_files(list(targets.values()), force=force, inputs=[source, checkpoint])
        return [source], targets, 0
    check_folder(out, "the translated images")
    paths = list_images(source, "input folder")
    earlier = {_output_path(path, source, out, either).resolve() for path in paths for either in DIRECTIONS}
    kept = [path for path in paths if path.resolve() not in earlier]
    if not kept:
        raise GankitError(f"every image under {source} is an earlier output of gankit translate (*-a2b.png, "
                          "*-b2a.png); nothing left to translate")
    targets = {path: _output_path(path, source, out, direction) for path in kept}
    check_files(list(targets.values()), force=force, inputs=[*kept, checkpoint])
    return kept, targets, len(paths) - len(kept)


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    import numpy as np
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))


@click.command("translate")
@click.argument("source", metavar="IMAGE_OR_FOLDER", type=click.Path(path_type=Path))
@click.option("--checkpoint", required=True, type=click.Path(path_type=Path),
              help="Checkpoint file or run directory of a translation model (ugatit, cyclegan).")
@click.option("--direction", type=click.Choice(DIRECTIONS), default="a2b", show_default=True,
              help="a2b: the data's domain A to B (photo to cartoon on the synthetic faces); b2a back.")
@click.option("-o", "out", type=click.Path(path_type=Path), default=Path("translated"), show_default=True,
              help="Output folder (or, for one image, a .png file).")
@device_option
@force_option
def translate_command(source: Path, checkpoint: Path, direction: str, out: Path, device: str, force: bool) -> None:
    """Translate an image, or every image under a folder, to the other domain.

    Each image is resized to the model's size, translated, and written back at its own size."""
    import numpy as np
    import torch

    from gankit_core import api
    from gankit_core.data.decode import read_user_image
    from gankit_core.images import save_png, to_uint8, unit_images
    from gankit_core.interfaces import Translates
    from gankit_core.progress import Steps

    if not source.exists():
        raise DataError(f"image or folder not found: {source}")
    single = source.is_file()
    paths, targets, left_out = _planned_outputs(source, out, direction, force, checkpoint)
    if left_out:
        click.echo(f"left out {left_out} earlier output(s) of gankit translate under {out}", err=True)
    loaded = api.load_checkpoint(checkpoint, device=device)
    if not isinstance(loaded.model, Translates):
        raise GankitError(f"{checkpoint} is a '{loaded.model.name}' checkpoint, which does not translate between "
                          "domains; gankit translate needs a ugatit or cyclegan one")
    size = loaded.model.config.image_size
    unreadable: list[str] = []  # in a folder, a corrupt image is skipped so the others are still translated
    with Steps(f"translating {direction}", len(paths), show=not single) as progress:
        for start in range(0, len(paths), BATCH):
            chunk, originals = [], []
            for path in paths[start:start + BATCH]:
                try:
                    originals.append(read_user_image(path))
                    chunk.append(path)
                except DataError as error:
                    if single:
                        raise
                    unreadable.append(str(error))
            progress.advance(len(paths[start:start + BATCH]) - len(chunk))
            if not chunk:
                continue
            resized = np.stack([_resize(image, size, size) for image in originals])
            inputs = unit_images(resized).to(loaded.device)
            with torch.no_grad():
                translated = to_uint8(loaded.model.translate(loaded.nets, inputs, direction).float())
            for path, original, image in zip(chunk, originals, translated.permute(0, 2, 3, 1).numpy(), strict=True):
                target = targets[path]
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                except OSError as error:
                    raise GankitError(f"cannot create {target.parent}: {error.strerror}") from None
                save_png(np.ascontiguousarray(_resize(image, original.shape[1], original.shape[0])), target)
                if single:
                    click.echo(f"wrote {target}")
            progress.advance(len(chunk))
    if not single:
        click.echo(f"wrote {len(paths) - len(unreadable)} images under {out}")
    if unreadable:
        raise DataError(f"{len(unreadable)} of {len(paths)} images could not be read and were skipped "
                        f"(the first: {unreadable[0]})")
