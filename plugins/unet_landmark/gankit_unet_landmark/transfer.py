"""``gankit transfer SOURCE TARGET --checkpoint RUN``: the target's face wearing the source's expression.

Inputs are face crops at the model's size with their 68 points in a ``landmarks.csv`` beside them (as
``gankit data synth`` writes), or real photos: then the installed landmark detector finds the face, the face is
cropped square and resized to the model's size (framed as the synthetic crops are), and for the target the
transferred face is pasted back into the photo inside the face's outline with a feathered edge; the rest of the
photo is untouched. A source photo only gives its landmarks.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from gankit_core.cli_options import device_option, force_option
from gankit_core.errors import DataError, GankitError
from gankit_core.faces import Face, paste_back, prepare_face


def _listed_points(path: Path) -> dict[str, np.ndarray] | None:
    """The crop's 68 points from a landmarks.csv beside it (as ``gankit data synth`` writes), if one lists it."""
    from gankit_core.data.folders import read_landmark_csv

    table_path = path.parent / "landmarks.csv"
    if not table_path.is_file():
        return None
    table = read_landmark_csv(table_path)
    if not table:  # a table that lost its rows is damaged, not a reason to ask the detector instead
        raise DataError(f"{table_path}: lists no faces; remove it or write it again with 'gankit data synth'")
    points = table.get(path.name)
    return None if points is None else {"points": points}


def convex_hull(points: np.ndarray) -> np.ndarray:
    """The convex hull of 2-D points, counter-clockwise (Andrew's monotone chain)."""
    ordered = sorted(map(tuple, np.asarray(points, float)))

    def half(sequence):
        chain: list[tuple[float, float]] = []
        for point in sequence:
            while len(chain) >= 2 and np.cross(np.subtract(chain[-1], chain[-2]), np.subtract(point, chain[-2])) <= 0:
                chain.pop()
            chain.append(point)
        return chain[:-1]

    return np.array(half(ordered) + half(ordered[::-1]))


def face_mask(points: np.ndarray, size: int) -> np.ndarray:
    """A float mask (size x size, [0, 1]) over the face: the landmarks' hull, grown by a tenth of the face and
    raised to cover the forehead, with a feathered edge."""
    from PIL import Image, ImageDraw, ImageFilter

    centre = points.mean(0)
    grown = centre + (points - centre) * 1.1
    brows = points[17:27]
    forehead = brows - [0, 0.25 * (points[8, 1] - brows[:, 1].mean())]  # a quarter of the face above the brows
    hull = convex_hull(np.concatenate([grown, forehead]))
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in hull], fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(radius=max(1, size // 48)))
    return np.asarray(mask, dtype=np.float64) / 255


@click.command("transfer")
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--checkpoint", required=True, type=click.Path(path_type=Path),
              help="expression checkpoint or run directory.")
@click.option("-o", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("transferred"),
              show_default=True)
@click.option("--method", type=click.Choice(["gan", "warp"]), default="gan", show_default=True,
              help="gan: the model's U-Net; warp: the target's eyes, brows and mouth warped to the fused landmarks "
                   "(the classical way, with the same landmarks).")
@device_option
@force_option
def transfer_command(source: Path, target: Path, checkpoint: Path, out_dir: Path, method: str, device: str,
                     force: bool) -> None:
    """Write TARGET wearing SOURCE's expression (expression), and the landmark image that guided it."""
    import torch

    from gankit_core import api
    from gankit_core.data.decode import require_image_file
    from gankit_core.images import save_png, to_uint8, unit_images
    from gankit_core.interfaces import TransfersExpressions
    from gankit_core.outputs import check_files, check_folder

    for path in (source, target):
        require_image_file(path)
    folder = check_folder(out_dir, "the transferred face and its landmark image")
    # Each method writes its own files, so both can be written into one folder without --force.
    suffix = "-warp" if method == "warp" else ""
    written, landmark_path = check_files([folder / f"{target.stem}-with-{source.stem}-expression{suffix}.png",
                                          folder / f"{target.stem}-with-{source.stem}-landmarks{suffix}.png"],
                                         force=force, inputs=[source, target, checkpoint])
    loaded = api.load_checkpoint(checkpoint, device=device)
    if not isinstance(loaded.model, TransfersExpressions):
        raise GankitError(f"{checkpoint} is a '{loaded.model.name}' checkpoint; gankit transfer needs an expression one")
    if method == "warp" and not loaded.model.config.fusion:
        raise GankitError(f"{checkpoint} was trained without the fusion module (fusion=false): it has no landmarks "
                          "to warp to; use --method gan")
    if method == "gan" and loaded.stage is not None and loaded.stage != "transfer":
        click.echo(f"warning: {checkpoint} stopped in the '{loaded.stage}' stage: its U-Net has not been trained, so "
                   "the output is close to the target unchanged (train the 'transfer' stage first)", err=True)
    size = loaded.model.config.image_size
    source_face, target_face = prepare_face(source, size, _listed_points), prepare_face(target, size, _listed_points)
    image = unit_images(target_face.crop).to(loaded.device)

    def points(face: Face) -> torch.Tensor:
        return torch.as_tensor(face.points, dtype=torch.float32)[None].to(loaded.device)

    with torch.no_grad():
        if method == "warp":
            guide = loaded.model.guide(loaded.nets, points(source_face), points(target_face), image)
            output = loaded.model.warp(guide.float(), image, points(target_face))
        else:
            output, guide = loaded.model.transfer(loaded.nets, points(source_face), image, points(target_face))
    crop = to_uint8(output.float())[0].permute(1, 2, 0).numpy()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise GankitError(f"cannot create {out_dir}: {error.strerror}") from None
    # A photo gets the output inside the face's outline, feathered; a crop is the output itself.
    pasted = crop if target_face.photo is None else paste_back(target_face, crop, face_mask(target_face.points, size))
    save_png(np.ascontiguousarray(pasted), written)
    save_png(np.ascontiguousarray(to_uint8(guide.float().expand(-1, 3, -1, -1))[0].permute(1, 2, 0).numpy()),
             landmark_path)
    click.echo(f"wrote {written} and {landmark_path}")

