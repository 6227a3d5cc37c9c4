"""``gankit swap A B --checkpoint PATH``: A with B's eyes or mouth, and B with A's.

Inputs are face crops at the model's size whose boxes are known (a ``labels.csv`` beside them, as
``gankit data synth`` writes), or real photos: then the installed landmark detector finds the face
and its eye/mouth boxes, the face is cropped and resized to the model's size, exchanged, and the
exchanged region is put back into the original photo. Either way only the exchange area and its
feathered band (the model's ``band``) change: the output is the input blended with G's exchange by
the feather mask F (1 in the area, falling to 0 over the band), crop and photo alike.

On a photo the exchange is made at the photo's own resolution: Eq. 1's paste copies B's region from
B's photo (cut at A's crop scale), and G's change to the paste, which is smooth (the model's
``smooth`` low-passes it), is resized up and added. A 64 px crop resized to photo size would blur
the exchanged eyes or mouth; the change carries only tone, which survives resizing.
"""

from __future__ import annotations

import csv
from pathlib import Path

import click
import numpy as np

from gankit_core.cli_options import device_option, force_option
from gankit_core.errors import DataError, GankitError
from gankit_core.faces import Face, paste_back, prepare_face
from gankit_cregan.blends import BLENDS


def _labelled_boxes(path: Path) -> dict[str, dict[str, np.ndarray]] | None:
    """A crop's eye and mouth boxes from the labels.csv beside it (as ``gankit data synth`` writes), if it lists it."""
    labels = path.parent / "labels.csv"
    if not labels.is_file():
        return None
    with labels.open(newline="", errors="replace") as handle:
        reader = csv.DictReader(handle)
        if "file" not in (reader.fieldnames or ()):  # a damaged table is said, not passed over to the detector
            raise DataError(f"{labels}: not a labels table (no 'file' column); remove it or write it again "
                            "with 'gankit data synth'")
        for row in reader:
            if row.get("file") == path.name:
                try:
                    eye = [int(row[f"eye_{c}"]) for c in ("x0", "y0", "x1", "y1")]
                    mouth = [int(row[f"mouth_{c}"]) for c in ("x0", "y0", "x1", "y1")]
                except (KeyError, ValueError, TypeError):  # TypeError: a row cut short leaves None in a column
                    raise DataError(f"{labels}: row for {path.name} has no valid eye/mouth boxes") from None
                return {"boxes": {"eye_box": np.array(eye), "mouth_box": np.array(mouth)}}
    return None


def exchanged_face(face: Face, donor: Face, mask, change, feather: np.ndarray) -> np.ndarray:
    """``face`` with ``donor``'s region (Eq. 1, hard ``mask``) plus G's ``change`` to that paste (1 x 3 x S x S in
    [-1, 1] units), at the crop's size or, for a photo, at the photo's resolution; blended into the crop or photo
    by the feather mask F (S x S), so nothing outside the exchange area and its band changes."""
    import torch

    side = face.crop.shape[0] if face.photo is None else int(round(face.origin[2]))

    def resized(image: torch.Tensor) -> torch.Tensor:  # N x C x S x S -> side x side x C
        if image.shape[-1] != side:
            image = torch.nn.functional.interpolate(image, size=(side, side), mode="bilinear", align_corners=False)
        return image[0].permute(1, 2, 0)

    own, theirs = torch.from_numpy(face.at_side(side)), torch.from_numpy(donor.at_side(side))
    pasted = torch.lerp(own, theirs, resized(mask.float().cpu()))
    exchanged = (pasted + resized(change.float().cpu()) * 127.5).clamp(0, 255).numpy()
    return paste_back(face, exchanged, feather)


def mask_at_side(face: Face, boxes: tuple) -> np.ndarray:
    """The exchange mask of two boxes (crop pixels) at the resolution the crop has in its photo (side x side)."""
    import torch

    from gankit_cregan.exchange import exchange_masks

    size = face.crop.shape[0]
    side = size if face.photo is None else int(round(face.origin[2]))
    scaled = [torch.as_tensor(np.round(np.asarray(box, dtype=float) * side / size)).long()[None] for box in boxes]
    return exchange_masks(scaled[0], scaled[1], side)[0][0, 0].numpy()


def exchange_at_side(face: Face, donor: Face, boxes: tuple, method: str, residual=None) -> np.ndarray:
    """``face`` with ``donor``'s region by a classical blend (``gankit_cregan.blends``) made at the resolution the
    crop has in the photo (the crop's own for a crop), plus G's ``residual`` (1 x 3 x S x S, [-1, 1] units) resized
    to it where given: the exchanged crop (uint8) at that resolution."""
    import torch

    from gankit_cregan.blends import blend

    mask = mask_at_side(face, boxes)
    side = mask.shape[0]
    own = face.at_side(side).round().astype(np.uint8)
    exchanged = blend(method, own, donor.at_side(side).round().astype(np.uint8), mask).astype(np.float32)
    if residual is not None:
        if residual.shape[-1] != side:
            residual = torch.nn.functional.interpolate(residual, size=(side, side), mode="bilinear", align_corners=False)
        exchanged += residual[0].permute(1, 2, 0).numpy() * 127.5
    return np.clip(exchanged + 0.5, 0, 255).astype(np.uint8)


def into_photo(face: Face, exchanged: np.ndarray) -> np.ndarray:
    """The exchanged crop where the crop came from: the photo with its square replaced (the exchange leaves every
    pixel it does not blend as it was), or the crop itself."""
    if face.photo is None:
        return exchanged
    return paste_back(face, exchanged, np.ones(exchanged.shape[:2], np.float32))


def photo_seam(face: Face, result: np.ndarray, boxes: tuple) -> float:
    """The seam figure of ``result`` (the photo or crop ``face`` came from, edited), measured as on the synthetic
    faces it was checked on: on the face's crop at the model's size, against the unedited crop."""
    import torch

    from gankit_cregan.exchange import exchange_masks
    from gankit_cregan.seam import seam_factor

    size = face.crop.shape[0]
    edited = result if face.photo is None else Face(face.crop, boxes=face.boxes, photo=result, origin=face.origin).at_side(size)

    def unit(image: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(image, np.float32)).permute(2, 0, 1)[None]

    mask, _ = exchange_masks(torch.as_tensor(boxes[0])[None], torch.as_tensor(boxes[1])[None], size)
    own = face.crop if face.photo is None else face.at_side(size)  # cut as the edited one is, to the pixel
    return float(seam_factor(unit(edited), unit(own), mask)[0])


@click.command("swap")
@click.argument("image_a", type=click.Path(path_type=Path))
@click.argument("image_b", type=click.Path(path_type=Path))
@click.option("--checkpoint", required=True, type=click.Path(path_type=Path), help="cregan checkpoint or run directory.")
@click.option("--region", type=click.Choice(["eyes", "mouth"]), default="mouth", show_default=True)
@click.option("--blend", "method", type=click.Choice(["gan", *BLENDS]), default="gan", show_default=True,
              help="gan: the checkpoint's G; the others are the classical blends, no network, to compare.")
@click.option("-o", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("swapped"),
              show_default=True)
@device_option
@force_option
def swap_command(image_a: Path, image_b: Path, checkpoint: Path, region: str, method: str, out_dir: Path,
                 device: str, force: bool) -> None:
    """Write A with B's region and B with A's (cregan), and each one's seam figure (1: no seam)."""
    import torch

    from gankit_core import api
    from gankit_core.data.decode import require_image_file
    from gankit_core.images import save_png, unit_images
    from gankit_core.interfaces import SwapsRegions
    from gankit_core.outputs import check_files, check_folder

    for path in (image_a, image_b):
        require_image_file(path)
    # Two inputs with one file name (x/a.png, y/a.png) get A/B labels, so neither output overwrites the other.
    names = (image_a.stem, image_b.stem) if image_a.stem != image_b.stem else (f"{image_a.stem}-A", f"{image_b.stem}-B")
    targets = [check_folder(out_dir, "the swapped faces") / f"{mine}-with-{theirs}-{region}.png"
               for mine, theirs in (names, names[::-1])]
    check_files(targets, force=force, inputs=[image_a, image_b, checkpoint])
    loaded = api.load_checkpoint(checkpoint, device=device)
    if not isinstance(loaded.model, SwapsRegions):
        raise GankitError(f"{checkpoint} is a '{loaded.model.name}' checkpoint; gankit swap needs a cregan one")
    size = loaded.model.config.image_size
    face_a, face_b = prepare_face(image_a, size, _labelled_boxes), prepare_face(image_b, size, _labelled_boxes)
    field = "eye_box" if region == "eyes" else "mouth_box"

    def tensor(face: Face) -> torch.Tensor:
        return unit_images(face.crop).to(loaded.device)

    from gankit_cregan.exchange import exchange, feather_mask

    boxes_a, boxes_b = torch.as_tensor(face_a.boxes[field][None]), torch.as_tensor(face_b.boxes[field][None])
    crop_a, crop_b = tensor(face_a), tensor(face_b)
    base = loaded.model.config.blend if method == "gan" else method  # the classical blend the output starts from
    with torch.no_grad():
        out_a, out_b, mask = loaded.model.swap(loaded.nets, crop_a, crop_b, boxes_a, boxes_b)
        pasted_a, pasted_b = exchange(crop_a, crop_b, mask) if base == "paste" else loaded.model.exchanged(
            crop_a, crop_b, mask)
    feather = feather_mask(boxes_a, boxes_b, size, loaded.model.band_pixels(size))[0, 0].numpy()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise GankitError(f"cannot create {out_dir}: {error.strerror}") from None
    pairs = ((face_a, face_b, out_a.float() - pasted_a.float(), targets[0], (boxes_a[0], boxes_b[0])),
             (face_b, face_a, out_b.float() - pasted_b.float(), targets[1], (boxes_b[0], boxes_a[0])))
    for face, donor, change, target, boxes in pairs:
        if method == "gan" and base == "paste":  # G's change to Eq. 1's paste (the paper's model), as before
            result = exchanged_face(face, donor, mask, change, feather)
        else:  # a classical blend at the photo's resolution, plus G's change to it (gan)
            result = into_photo(face, exchange_at_side(face, donor, boxes, base, change.cpu() if method == "gan" else None))
        seam = photo_seam(face, result, boxes)
        save_png(np.ascontiguousarray(result), target)
        click.echo(f"wrote {target}")
        click.echo(f"  seam {seam:.3f} (1: none)")
