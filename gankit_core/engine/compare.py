"""Runs compared on one self-contained page (``gankit report RUN1 RUN2 ...``): their curves overlaid, their final
sample grids side by side and the config values in which they differ."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from gankit_core.engine.report import (
    COLOURS,
    NOT_PLOTTED,
    chart_key,
    html_page,
    inline_png,
    read_metrics,
    series_by_key,
    svg_chart,
)

# Chart order: what a reader compares first. Keys of other kinds (eval figures a run logged, say) follow.
KIND_ORDER = ("loss", "score", "images/s", "learning rate")


def flatten(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"config": {"lr": 1}}`` -> ``{"config.lr": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_differences(documents: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Each flattened key (model, config.*, train.*, versions.*) whose value is not the same in every run;
    a run without the key has None there."""
    flats = [flatten(document) for document in documents]
    keys = sorted({key for flat in flats for key in flat})
    return {key: [flat.get(key) for flat in flats] for key in keys
            if len({repr(flat.get(key)) for flat in flats}) > 1}


def run_labels(runs: list[Path]) -> list[str]:
    """Each run's folder name, or its whole path where two runs share a name."""
    names = [run.name or str(run) for run in runs]
    return [name if names.count(name) == 1 else str(run) for name, run in zip(names, runs, strict=True)]


def final_grid(run: Path) -> Path | None:
    """The run's last step grid (the one written at its final step), else its last grid of any kind."""
    samples = run / "samples"
    if not samples.is_dir():
        return None
    steps = sorted(samples.glob("step-*.png"))
    grids = steps or sorted(samples.glob("*.png"))
    return grids[-1] if grids else None


def _charts(rows_by_run: dict[str, list[dict]], colours: dict[str, str]) -> list[str]:
    """One chart per logged key, one line per run that logged it."""
    skip = NOT_PLOTTED - {"images_per_s"}
    per_key: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for label, rows in rows_by_run.items():
        for key, points in series_by_key(rows, skip).items():
            per_key.setdefault(key, {})[label] = points

    def kind(key: str) -> str:
        return "images/s" if key == "images_per_s" else chart_key(key)[1]

    def order(key: str) -> tuple[int, str]:
        return (KIND_ORDER.index(kind(key)) if kind(key) in KIND_ORDER else len(KIND_ORDER), key)

    return [svg_chart(key, per_key[key], y_label=kind(key), colours=colours) for key in sorted(per_key, key=order)]


def _cell(value: Any) -> str:
    return "<em>absent</em>" if value is None else html.escape(str(value))


def write_comparison(runs: list[Path], output: Path) -> Path:
    """Write the comparison page of ``runs`` (run directories) to ``output``."""
    from gankit_core import api
    from gankit_core.engine.checkpoint import write_atomic

    documents = [api.read_run(run) for run in runs]  # a folder that is no run is refused in one line
    labels = run_labels(runs)
    colours = {label: COLOURS[index % len(COLOURS)] for index, label in enumerate(labels)}
    rows_by_run = {label: read_metrics(run / "metrics.jsonl") for label, run in zip(labels, runs, strict=True)}

    overview = ["<tr><th>run</th><th>model</th><th>last logged step</th><th>directory</th></tr>"]
    for label, run, document in zip(labels, runs, documents, strict=True):
        steps = [row["step"] for row in rows_by_run[label] if "step" in row]
        overview.append(f'<tr><td><span style="color:{colours[label]}">&#9632;</span> {html.escape(label)}</td>'
                        f"<td>{html.escape(document['model'])}</td><td>{max(steps) if steps else '-'}</td>"
                        f"<td>{html.escape(str(run))}</td></tr>")

    differences = config_differences(documents)
    if differences:
        header = "".join(f"<th>{html.escape(label)}</th>" for label in labels)
        body_rows = "".join(f"<tr><th>{html.escape(key)}</th>{''.join(f'<td>{_cell(v)}</td>' for v in values)}</tr>"
                            for key, values in differences.items())
        config_table = f'<table class="config-differences"><tr><th>setting</th>{header}</tr>{body_rows}</table>'
    else:
        config_table = "<p>The runs were started with identical configs.</p>"

    figures = []
    for label, run in zip(labels, runs, strict=True):
        grid = final_grid(run)
        figures.append(inline_png(grid, f"{label}: {grid.stem}") if grid is not None
                       else f"<figure><p>{html.escape(label)}: no sample grid</p></figure>")

    charts = _charts(rows_by_run, colours)
    body = (f"<table>{''.join(overview)}</table>\n"
            f"<h2>Config differences</h2>{config_table}\n"
            f'<h2>Curves</h2><div class="charts">{"".join(charts) or "<p>No metrics logged.</p>"}</div>\n'
            f'<h2>Final samples</h2><div class="grids">{"".join(figures)}</div>')
    write_atomic(output, html_page(f"gankit: {len(runs)} runs compared", body).encode())
    return output
