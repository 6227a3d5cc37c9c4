"""Metric commands: ``gankit eval``, ``gankit fid`` and ``gankit meqfi sheet|score`` (no torch at import)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gankit_core.cli_options import SummaryGroup, device_option, force_option, require_model
from gankit_core.errors import GankitError


def json_text(results: dict) -> str:
    """Metric results as strict JSON: a value that is not a finite number (an infinite PSNR of identical
    images, a NaN) is null, since JSON has no Infinity or NaN."""
    import math

    def finite(value):
        return value if not isinstance(value, float) or math.isfinite(value) else None

    return json.dumps({name: finite(value) for name, value in results.items()}, indent=2, allow_nan=False)


def _plain(name: str, value) -> str:
    if value is None:
        return "n/a (one subset: -n is below KID's subset size of 1000)" if name == "kid_std" else "n/a"
    return f"{value:.5g}"


@click.command("eval")
@click.argument("model_name", metavar="MODEL")
@click.option("--checkpoint", required=True, type=click.Path(path_type=Path), help="Checkpoint file or run directory.")
@click.option("--metric", "metric_names", help="Comma-separated metrics (default: the model's own set, or fid,kid).")
@click.option("-n", "count", type=int, default=1000, show_default=True, help="Images per set.")
@click.option("--data", help="Real data spec (default: the model's).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@device_option
@click.option("--inception", type=click.Path(dir_okay=False), help="TorchScript Inception file for FID/KID.")
@click.option("--baseline", type=click.Path(path_type=Path),
              help="Another run of MODEL to report beside it (models whose own metrics compare variants).")
@click.option("--json", "as_json", is_flag=True)
def eval_command(model_name, checkpoint, metric_names, count, data, seed, device, inception, baseline,
                 as_json) -> None:
    """Evaluate a checkpoint of MODEL (FID/KID offline, or the model's own ground-truth metrics)."""
    from gankit_core import api

    if count < 2:
        raise GankitError("-n must be at least 2")
    require_model(model_name)
    metrics = [m.strip() for m in metric_names.split(",")] if metric_names else None
    results = api.evaluate(checkpoint, metrics, count=count, data=data, seed=seed, device=device, inception=inception,
                           model=model_name, baseline=baseline)
    if as_json:
        click.echo(json_text(results))
        return
    for name, value in results.items():
        click.echo(f"{name:<28} {_plain(name, value)}")


@click.command("fid")
@click.argument("set_a")
@click.argument("set_b")
@click.option("--size", type=click.IntRange(min=16),
              help="Resize both sets to this size first (default: folders keep their own).")
@click.option("-n", "count", type=click.IntRange(min=2), help="At most this many images from each set (2 or more).")
@device_option
@click.option("--inception", type=click.Path(dir_okay=False), help="TorchScript Inception file.")
@click.option("--json", "as_json", is_flag=True)
def fid_command(set_a, set_b, size, count, device, inception, as_json) -> None:
    """FID and KID between two image folders or dataset specs."""
    from gankit_core.metrics.fid import fid_between, load_images
    from gankit_core.metrics.inception import InceptionFeatures

    images_a = load_images(set_a, size, limit=count)
    images_b = load_images(set_b, size, limit=count)
    results = fid_between(images_a, images_b, InceptionFeatures(inception, device=device))
    results.update({"images_a": images_a.shape[0], "images_b": images_b.shape[0]})
    if as_json:
        click.echo(json_text(results))
        return
    spread = f" ± {results['kid_std']:.5f}" if results["kid_std"] is not None else " (one subset: no spread)"
    click.echo(f"FID {results['fid']:.3f}   KID {results['kid']:.5f}{spread}   "
               f"({images_a.shape[0]} vs {images_b.shape[0]} images)")


@click.group("meqfi", cls=SummaryGroup)
def meqfi_group() -> None:
    """MEQFI human evaluation (paper 002, Eq. 4): a rating sheet, then the score."""


@meqfi_group.command("sheet")
@click.argument("images_dir", type=click.Path(path_type=Path))
@click.option("-o", "output", type=click.Path(dir_okay=False, path_type=Path), default=Path("sheet.html"),
              show_default=True)
@click.option("--features", default="Nose,Eyes,Eyebrows,Mouth,Ears,Teeth,SkinTone", show_default=True)
@click.option("--scale", type=int, default=5, show_default=True, help="Marks run from 1 to this.")
@force_option
def sheet_command(images_dir: Path, output: Path, features: str, scale: int, force: bool) -> None:
    """Write a self-contained HTML page for rating each image's features; it exports a ratings CSV."""
    from gankit_core.metrics.meqfi import write_sheet
    from gankit_core.outputs import check_file

    check_file(output, (".html", ".htm"), "an HTML page", force=force)

    names = tuple(f.strip() for f in features.split(",") if f.strip())
    count = write_sheet(images_dir, output, names, scale)
    click.echo(f"wrote {output}: {count} images x {len(names)} features, marks 1..{scale}")


@meqfi_group.command("score")
@click.argument("ratings", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def score_command(ratings: tuple[Path, ...], as_json: bool) -> None:
    """Score one or more ratings CSVs (several raters are averaged per image)."""
    from gankit_core.metrics.meqfi import read_ratings, score_ratings

    rows = [row for path in ratings for row in read_ratings(path)]
    result = score_ratings(rows, ", ".join(map(str, ratings)))
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    for image, score in result.images.items():
        click.echo(f"{image:<32} {100 * score:6.2f} %")
    click.echo(f"{'total (' + str(len(result.images)) + ' images, ' + str(len(result.raters)) + ' raters)':<32} "
               f"{100 * result.total:6.2f} %")
