"""Data commands: ``gankit data synth``, ``gankit data show`` and ``gankit landmarks`` (no torch at import)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import click

from gankit_core.cli_options import SummaryGroup, force_option
from gankit_core.errors import DataError, GankitError


@click.group("data", cls=SummaryGroup)
def data_group() -> None:
    """Built-in synthetic faces and dataset previews."""


@data_group.command("synth")
@click.option("-n", "--n", "count", type=int, default=256, show_default=True, help="How many faces.")
@click.option("--size", type=int, default=128, show_default=True, help="Image size in pixels (32-512).")
@click.option("--style", type=click.Choice(["photo", "cartoon"]), default="photo", show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder to write.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--identities", type=int, default=1000, show_default=True, help="Distinct identities to draw from.")
@click.option("--overwrite", "--force", "overwrite", is_flag=True,
              help="Replace an earlier 'data synth' set in --out (refused when anything else is there).")
def synth_command(count: int, size: int, style: str, out: Path, seed: int, identities: int, overwrite: bool) -> None:
    """Write synthetic faces as PNGs plus labels.csv (identity, expression, boxes) and landmarks.csv."""
    from PIL import Image

    from gankit_core.data.folders import LABEL_COLUMNS
    from gankit_core.data.synthetic import EXPRESSIONS
    from gankit_core.data.synthetic_dataset import render_set

    if count < 1 or identities < 1:
        raise GankitError("--n and --identities must be at least 1")
    if not 32 <= size <= 512:
        raise GankitError(f"--size must be between 32 and 512, not {size}")
    earlier = _earlier_set(out, overwrite)
    arrays = render_set(seed, count, size, style, identities, "train")
    for path in earlier:  # only now: an interrupted rendering leaves the earlier set as it was
        path.unlink()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise GankitError(f"cannot create {out}: {error.strerror}") from None
    with (out / "labels.csv").open("w", newline="") as labels, (out / "landmarks.csv").open("w", newline="") as marks:
        label_writer, mark_writer = csv.writer(labels), csv.writer(marks)
        label_writer.writerow(LABEL_COLUMNS)
        mark_writer.writerow(["file", *[f"{axis}{i}" for i in range(68) for axis in "xy"]])
        for index in range(count):
            name = f"face-{index:05d}.png"
            Image.fromarray(arrays["image"][index].transpose(1, 2, 0)).save(out / name)
            label_writer.writerow([name, int(arrays["identity"][index]), EXPRESSIONS[arrays["expression"][index]],
                                   f"{arrays['intensity'][index]:.3f}", style,
                                   *arrays["eye_box"][index].tolist(), *arrays["mouth_box"][index].tolist()])
            mark_writer.writerow([name, *[f"{v:.2f}" for v in arrays["landmarks"][index].reshape(-1)]])
    click.echo(f"wrote {count} {style} faces ({size}px) with labels.csv and landmarks.csv to {out}")


SYNTH_IMAGE = re.compile(r"face-\d{5}\.png")


def _earlier_set(out: Path, overwrite: bool) -> list[Path]:
    """The files of an earlier set that ``--overwrite`` replaces. A set is written into an empty folder only:
    writing over another set would leave images that its labels.csv no longer describes. ``--overwrite``
    replaces an earlier ``data synth`` set's own files (its ``face-NNNNN.png``, labels.csv and landmarks.csv)
    and refuses, listing them, when anything else is there: a file, a folder or a run of the user's is never
    deleted."""
    from gankit_core.data.folders import LABEL_COLUMNS, csv_header
    from gankit_core.outputs import check_folder

    check_folder(out, "the faces")
    if not out.is_dir() or not any(out.iterdir()):
        return []
    if not overwrite:
        raise GankitError(f"--out {out} is not empty; choose an empty or new folder, or add --overwrite to replace "
                          "an earlier 'gankit data synth' set there")
    if not ((out / "landmarks.csv").is_file() and csv_header(out / "labels.csv") == list(LABEL_COLUMNS)):
        raise GankitError(f"--overwrite: {out} holds no labels.csv and landmarks.csv written by 'gankit data synth', "
                          "so it is not a 'gankit data synth' set; not emptying it")
    own = [child for child in out.iterdir() if not child.is_symlink() and child.is_file()
           and (child.name in ("labels.csv", "landmarks.csv") or SYNTH_IMAGE.fullmatch(child.name))]
    foreign = sorted(f"{child.name}/" if child.is_dir() else child.name for child in set(out.iterdir()) - set(own))
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise GankitError(f"--overwrite: {out} also holds what 'gankit data synth' did not write ({shown}); move "
                          "it away or choose another folder; nothing was removed")
    return own


@data_group.command("show")
@click.argument("spec", default="synthetic-faces")
@click.option("-n", "count", type=int, default=64, show_default=True)
@click.option("-o", "output", type=click.Path(dir_okay=False, path_type=Path), default=Path("grid.png"),
              show_default=True)
@click.option("--size", type=int, default=128, show_default=True, help="Image size to load at.")
@click.option("--landmarks", "with_landmarks", is_flag=True, help="Draw landmarks and eye/mouth boxes.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--strict", is_flag=True, help="An unreadable image is an error, not a skipped warning.")
@force_option
def show_command(spec: str, count: int, output: Path, size: int, with_landmarks: bool, seed: int, strict: bool,
                 force: bool) -> None:
    """Write a grid of the first N samples of any dataset SPEC."""
    import torch

    from gankit_core.data import open_dataset, parse_spec
    from gankit_core.data.landmarks import annotate
    from gankit_core.images import make_grid, save_png
    from gankit_core.outputs import check_file

    if count < 1:
        raise GankitError("-n must be at least 1")
    if Path(spec).is_file():
        raise GankitError(f"{spec} is a file; 'data show' takes a folder of images or a dataset spec "
                          "(synthetic-faces, folder:PATH, celeba:PATH, ...)")
    _, argument = parse_spec(spec)
    named = [Path(spec), *([Path(argument.partition(",")[0])] if argument else [])]
    check_file(output, (".png",), "a PNG grid", force=force,
               input_folders=[folder for folder in named if folder.is_dir()])
    dataset = open_dataset(spec, size, seed=seed, strict=strict)
    batch = dataset.take(torch.arange(min(count, len(dataset))))
    images = batch["image"].permute(0, 2, 3, 1).numpy()
    if with_landmarks:
        points = batch.get("landmarks", batch.get("landmarks5"))
        boxes = {k: batch[k].numpy() for k in ("eye_box", "mouth_box") if k in batch}
        if points is None and not boxes:
            raise DataError(f"dataset '{dataset.name}' has no landmarks or boxes to draw")
        images = annotate(images, points.numpy() if points is not None else None, boxes)
    grid = make_grid(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous())
    save_png(grid, output)
    click.echo(f"wrote {output} ({len(images)} samples of {dataset.name})")


@click.command("landmarks")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "output", type=click.Path(path_type=Path), help="Folder for annotated copies (or a .png for one image).")
@click.option("--all-faces", is_flag=True, help="Every face found, not just the highest-scoring one.")
@click.option("--detector", help="Landmark detector name (default: the installed one).")
@force_option
def landmarks_command(images: tuple[Path, ...], output: Path | None, all_faces: bool, detector: str | None,
                      force: bool) -> None:
    """Find faces and their 68 landmarks with the installed detector; print JSON, optionally draw them."""
    from gankit_core.data.decode import read_user_image, require_image_file
    from gankit_core.data.landmarks import annotate, region_boxes
    from gankit_core.images import save_png
    from gankit_core.landmarking import detect_faces
    from gankit_core.outputs import check_file, check_files, check_folder

    for path in images:
        require_image_file(path)
    targets: dict[Path, Path] = {}
    if output is not None and output.suffix.lower() == ".png" and len(images) == 1:
        targets = {images[0]: check_file(output, (".png",), "an annotated PNG", force=force, inputs=images)}
    elif output is not None:
        folder = check_folder(output, "the annotated images")
        targets = {path: folder / f"{path.stem}-landmarks.png" for path in images}
        check_files(list(targets.values()), force=force, inputs=images)
    for path in images:
        image = read_user_image(path)
        faces = detect_faces(image, all_faces=all_faces, detector=detector, where=str(path))
        for face in faces:
            click.echo(json.dumps({"image": str(path), "box": face.box, "score": round(face.score, 3),
                                   "points": face.points.round(1).tolist()}))
        if targets:
            import numpy as np

            drawn = image[None]
            for face in faces:
                boxes = region_boxes(face.points[None], max(image.shape[:2]))
                drawn = annotate(drawn, face.points[None], boxes)
            save_png(np.ascontiguousarray(drawn[0]), targets[path])
            click.echo(f"wrote {targets[path]}", err=True)
