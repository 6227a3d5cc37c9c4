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
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

from gankit_core.cli_options import device_option
from gankit_core.errors import DataError, GankitError
from gankit_cregan.blends import BLENDS

FACE_SPAN = 0.56  # how much of a synthetic crop the landmarks span: real faces are framed alike


@dataclass
class Face:
    """A face ready for the model: the crop (size x size x 3) and where it came from."""

    crop: np.ndarray
    boxes: dict[str, np.ndarray]  # eye_box, mouth_box in crop pixels
    photo: np.ndarray | None = None  # the original photo, when the crop was cut from one
    origin: tuple[float, float, float] = (0.0, 0.0, 1.0)  # x, y and side of the crop in the photo

    def at_side(self, side: int) -> np.ndarray:
        """The crop at ``side`` x ``side`` pixels: cut again from the photo when there is one, so it is sharp."""
        from PIL import Image

        if self.photo is None:
            source = Image.fromarray(self.crop)
        else:
            x, y, crop_side = self.origin
            box = (int(round(x)), int(round(y)), int(round(x)) + int(round(crop_side)), int(round(y)) + int(round(crop_side)))
            source = Image.fromarray(self.photo).crop(box)  # pads outside the photo with black, as the crop did
        return np.asarray(source.resize((side, side), Image.Resampling.LANCZOS)).astype(np.float32)


def _labelled_boxes(path: Path, size: int) -> dict[str, np.ndarray] | None:
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
                return {"eye_box": np.array(eye), "mouth_box": np.array(mouth)}
    return None


def prepare_face(path: Path, size: int) -> Face:
    """A crop at the model's size with its boxes: from labels.csv for crops, the detector for photos."""
    from PIL import Image

    from gankit_core.data.folders import read_user_image
    from gankit_core.data.landmarks import region_boxes
    from gankit_core.landmarking import detect_faces

    photo = read_user_image(path)
    if photo.shape[0] == photo.shape[1] == size:
        boxes = _labelled_boxes(path, size)
        if boxes is not None:
            return Face(photo, boxes)
    points = detect_faces(photo, where=str(path))[0].points
    low, high = points.min(0), points.max(0)
    side = float(max(high - low) / FACE_SPAN)
    centre_x, centre_y = (low + high) / 2 - [0, 0.06 * side]  # a little headroom, as the synthetic crops have
    x0, y0 = centre_x - side / 2, centre_y - side / 2
    box = (int(round(x0)), int(round(y0)), int(round(x0 + side)), int(round(y0 + side)))
    crop = Image.fromarray(photo).crop(box).resize((size, size), Image.Resampling.LANCZOS)  # pads outside with black
    scale = size / (box[2] - box[0])
    crop_points = (points - [box[0], box[1]]) * scale
    boxes = {k: v[0] for k, v in region_boxes(crop_points[None], size).items()}
    return Face(np.asarray(crop), boxes, photo, (float(box[0]), float(box[1]), float(box[2] - box[0])))


def paste_back(face: Face, donor: Face, mask, change, feather: np.ndarray) -> np.ndarray:
    """``face`` with ``donor``'s region (Eq. 1, hard ``mask``) plus G's ``change`` to that paste (1 x 3 x S x S in
    [-1, 1] units), at the crop's size or, for a photo, at the photo's resolution; blended into the crop or photo
    by the feather mask F (S x S), so nothing outside the exchange area and its band changes."""
    import torch

    from gankit_core.landmarking import paste_into_photo

    side = face.crop.shape[0] if face.photo is None else int(round(face.origin[2]))

    def resized(image: torch.Tensor) -> torch.Tensor:  # N x C x S x S -> side x side x C
        if image.shape[-1] != side:
            image = torch.nn.functional.interpolate(image, size=(side, side), mode="bilinear", align_corners=False)
        return image[0].permute(1, 2, 0)

    own, theirs = torch.from_numpy(face.at_side(side)), torch.from_numpy(donor.at_side(side))
    pasted = torch.lerp(own, theirs, resized(mask.float().cpu()))
    exchanged = (pasted + resized(change.float().cpu()) * 127.5).clamp(0, 255).numpy()
    if face.photo is None:
        blended = feather[..., None] * exchanged + (1 - feather[..., None]) * face.crop.astype(float)
        return np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return paste_into_photo(face.photo, face.origin, np.clip(exchanged + 0.5, 0, 255).astype(np.uint8), feather)


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
    from gankit_core.landmarking import paste_into_photo

    if face.photo is None:
        return exchanged
    return paste_into_photo(face.photo, face.origin, exchanged, np.ones(exchanged.shape[:2], np.float32))


def photo_seam(face: Face, result: np.ndarray, boxes: tuple) -> float:
    """The seam figure of ``result`` (the photo or crop ``face`` came from, edited), measured as on the synthetic
    faces it was checked on: on the face's crop at the model's size, against the unedited crop."""
    import torch

    from gankit_cregan.exchange import exchange_masks
    from gankit_cregan.seam import seam_factor

    size = face.crop.shape[0]
    edited = result if face.photo is None else Face(face.crop, face.boxes, result, face.origin).at_side(size)

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
def swap_command(image_a: Path, image_b: Path, checkpoint: Path, region: str, method: str, out_dir: Path,
                 device: str) -> None:
    """Write A with B's region and B with A's (cregan), and each one's seam figure (1: no seam)."""
    import torch

    from gankit_core import api
    from gankit_core.images import save_png, to_unit

    loaded = api.load_checkpoint(checkpoint, device=device)
    if not hasattr(loaded.model, "swap"):
        raise GankitError(f"{checkpoint} is a '{loaded.model.name}' checkpoint; gankit swap needs a cregan one")
    size = loaded.model.config.image_size
    face_a, face_b = prepare_face(image_a, size), prepare_face(image_b, size)
    field = "eye_box" if region == "eyes" else "mouth_box"

    def tensor(face: Face) -> torch.Tensor:
        return to_unit(torch.from_numpy(np.array(face.crop)).permute(2, 0, 1)[None].contiguous()).to(loaded.device)

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
    # Two inputs with one file name (x/a.png, y/a.png) get A/B labels, so neither output overwrites the other.
    names = (image_a.stem, image_b.stem) if image_a.stem != image_b.stem else (f"{image_a.stem}-A", f"{image_b.stem}-B")
    pairs = ((face_a, face_b, out_a.float() - pasted_a.float(), names[0], names[1], (boxes_a[0], boxes_b[0])),
             (face_b, face_a, out_b.float() - pasted_b.float(), names[1], names[0], (boxes_b[0], boxes_a[0])))
    for face, donor, change, mine, theirs, boxes in pairs:
        if method == "gan" and base == "paste":  # G's change to Eq. 1's paste (the paper's model), as before
            result = paste_back(face, donor, mask, change, feather)
        else:  # a classical blend at the photo's resolution, plus G's change to it (gan)
            result = into_photo(face, exchange_at_side(face, donor, boxes, base, change.cpu() if method == "gan" else None))
        seam = photo_seam(face, result, boxes)
        target = out_dir / f"{mine}-with-{theirs}-{region}.png"
        save_png(np.ascontiguousarray(result), target)
        click.echo(f"wrote {target}")
        click.echo(f"  seam {seam:.3f} (1: none)")
