"""Commands that take a run elsewhere: ``gankit export`` (ONNX, or a folder to publish) and ``gankit report`` (runs compared on one page).

No torch at import, like every command module.
"""

from __future__ import annotations

from pathlib import Path

import click

from gankit_core.cli_options import force_option
from gankit_core.errors import GankitError


@click.command("export")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--format", "export_format", type=click.Choice(["onnx", "hub"]), default="onnx", show_default=True,
              help="onnx: one .onnx file per network; hub: a folder with config.json, model.safetensors, a model "
                   "card (README.md) and a sample grid, loadable by every inference command.")
@click.option("-o", "output", type=click.Path(path_type=Path),
              help="onnx: the .onnx file (default RUN/MODEL.onnx); with several networks, FILE-NETWORK.onnx each. "
                   "hub: the folder (default RUN/hub).")
@click.option("--network", help="onnx: export only this inference network (see 'gankit info MODEL').")
@click.option("--opset", type=int, help="onnx: ONNX opset version (default: torch's exporter's).")
@click.option("--dynamic-batch", is_flag=True, help="onnx: accept any batch size (default: the example batch of 2).")
@click.option("--eval", "eval_count", type=int,
              help="hub: images per set for the model card's evaluation table (default 256; 0: no table).")
@click.option("--inception", type=click.Path(dir_okay=False), help="hub: TorchScript Inception file for FID/KID.")
@force_option
def export_command(run: Path, export_format: str, output: Path | None, network: str | None, opset: int | None,
                   dynamic_batch: bool, eval_count: int | None, inception: str | None, force: bool) -> None:
    """Export a run's inference networks (EMA weights where kept): to ONNX, checked with onnx.checker and
    onnxruntime, or as a model folder to publish (--format hub). RUN is a run directory (its latest checkpoint)
    or a checkpoint file."""
    if export_format == "hub":
        if network is not None or opset is not None or dynamic_batch:
            raise GankitError("--network, --opset and --dynamic-batch are ONNX options; the hub format exports "
                              "every inference network")
        from gankit_core.hub import DEFAULT_EVAL_COUNT, export_hub

        written = export_hub(run, output, DEFAULT_EVAL_COUNT if eval_count is None else eval_count,
                             inception=inception, force=force, announce=lambda line: click.echo(line, err=True))
        if written.evaluation_note and eval_count != 0:
            click.echo(f"warning: the model card has no evaluation table: {written.evaluation_note}", err=True)
        click.echo(f"wrote {written.folder}: {', '.join(written.networks)} from step {written.step} "
                   "(config.json, model.safetensors, README.md, samples.png)")
        return
    if eval_count is not None or inception is not None:
        raise GankitError("--eval and --inception are options of --format hub")
    from gankit_core.export import export_run

    for exported in export_run(run, output, network, opset, dynamic_batch, force=force):
        inputs = ", ".join(f"{name} {' x '.join(map(str, shape))}"
                           for name, shape in zip(exported.input_names, exported.input_shapes, strict=True))
        click.echo(f"wrote {exported.path}: {exported.network} ({inputs} -> output "
                   f"{' x '.join(map(str, exported.output_shape))}), opset {exported.opset}, "
                   f"max |onnxruntime - torch| {exported.max_abs_difference:.2g}")


@click.command("report")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "output", type=click.Path(dir_okay=False, path_type=Path), default=Path("compare.html"),
              show_default=True)
@force_option
def report_command(runs: tuple[Path, ...], output: Path, force: bool) -> None:
    """One self-contained page comparing runs: overlaid curves, final sample grids, config differences."""
    from gankit_core.engine.compare import write_comparison
    from gankit_core.outputs import check_file

    if len(set(runs)) != len(runs):
        raise GankitError("a run is named twice")
    check_file(output, (".html", ".htm"), "an HTML page", force=force, inputs=runs)
    written = write_comparison(list(runs), output)
    click.echo(f"wrote {written} ({len(runs)} runs)")
