"""Commands that take a run elsewhere: ``gankit export`` (ONNX) and ``gankit report`` (runs compared on one page).

No torch at import, like every command module.
"""

from __future__ import annotations

from pathlib import Path

import click

from gankit_core.cli_options import force_option
from gankit_core.errors import GankitError


@click.command("export")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("-o", "output", type=click.Path(dir_okay=False, path_type=Path),
              help="The .onnx file (default RUN/MODEL.onnx); with several networks, FILE-NETWORK.onnx each.")
@click.option("--network", help="Export only this inference network (see 'gankit info MODEL').")
@click.option("--opset", type=int, help="ONNX opset version (default: torch's exporter's).")
@click.option("--dynamic-batch", is_flag=True, help="Accept any batch size (default: the example batch of 2).")
@force_option
def export_command(run: Path, output: Path | None, network: str | None, opset: int | None,
                   dynamic_batch: bool, force: bool) -> None:
    """Export a run's inference networks (EMA weights where kept) to ONNX, checked with onnx.checker and
    onnxruntime.

    RUN is a run directory (its latest checkpoint) or a checkpoint file."""
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
