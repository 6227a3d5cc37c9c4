"""The run's self-contained HTML report: loss curves, real/fake scores and sample grids over time."""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
NOT_PLOTTED = {"step", "time", "images_per_s", "epoch", "event"}


def read_metrics(path: Path) -> list[dict]:
    """The rows of a run's metrics.jsonl; a line that is not a logged row (cut by a crash, or bytes written over
    it) is left out, so the rest still plots and a resume rewrites the file without it."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        line = line.strip()
        if line:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("step"), int):
                rows.append(row)
    return rows


def nice_ticks(low: float, high: float, count: int = 5, integer: bool = False) -> list[float]:
    """About ``count`` round values (1, 2, 2.5 or 5 times a power of ten apart) from ``low`` to ``high``."""
    span = high - low
    magnitude = 10 ** math.floor(math.log10(span / count))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10)), key=lambda s: abs(span / s - count))
    if integer:
        step = max(1.0, math.ceil(step))
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((high - first) / step + 1e-9) + 1)]


def _padded(low: float, high: float) -> tuple[float, float]:
    """A range around one value (a single logged point, a constant series) so it still draws."""
    if high > low:
        return low, high
    half = abs(low) * 0.1 or 0.5
    return low - half, high + half


def svg_chart(title: str, series: dict[str, list[tuple[float, float]]], stage_starts: list[tuple[int, str]] = (),
              y_label: str = "", colours: dict[str, str] | None = None, width: int = 640) -> str:
    """A line chart of ``series`` (name -> (step, value) points): ticks and labels on both axes, a legend, each
    point's value on hover (an SVG <title>, no script), dashed lines where later stages start."""
    finite = {name: [p for p in values if math.isfinite(p[1])] for name, values in series.items()}
    finite = {name: values for name, values in finite.items() if values}
    if not finite:
        return ""
    colours = colours or {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(finite)}
    points = [p for values in finite.values() for p in values]
    x_low, x_high = min(p[0] for p in points), max(p[0] for p in points)
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1
    y_low, y_high = _padded(min(p[1] for p in points), max(p[1] for p in points))
    margin = (y_high - y_low) * 0.05  # the extreme points are drawn inside the axes, not on them
    y_low, y_high = y_low - margin, y_high + margin
    legend_columns = 3
    legend_rows = math.ceil(len(finite) / legend_columns)
    left, right, top, plot_height = 64, 16, 28, 200
    bottom = top + plot_height
    height = bottom + 44 + 16 * legend_rows

    def sx(x: float) -> float:
        return left + (x - x_low) / (x_high - x_low) * (width - left - right)

    def sy(y: float) -> float:
        return top + (y_high - y) / (y_high - y_low) * plot_height

    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="16" font-weight="bold" font-size="13">{html.escape(title)}</text>',
    ]
    for y in nice_ticks(y_low, y_high):
        parts.append(f'<line x1="{left}" y1="{sy(y):.1f}" x2="{width - right}" y2="{sy(y):.1f}" stroke="#eee"/>'
                     f'<text class="tick" x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:.4g}</text>')
    for x in nice_ticks(x_low, x_high, 6, integer=True):
        parts.append(f'<line x1="{sx(x):.1f}" y1="{bottom}" x2="{sx(x):.1f}" y2="{bottom + 4}" stroke="#999"/>'
                     f'<text class="tick" x="{sx(x):.1f}" y="{bottom + 16}" text-anchor="middle">{x:.0f}</text>')
    parts += [
        f'<line x1="{left}" y1="{bottom}" x2="{width - right}" y2="{bottom}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#999"/>',
        f'<text class="axis-label" x="{(left + width - right) / 2:.0f}" y="{bottom + 32}" text-anchor="middle">step</text>',
        f'<text class="axis-label" x="14" y="{top + plot_height / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + plot_height / 2:.0f})">{html.escape(y_label or title)}</text>',
    ]
    for step, stage in stage_starts:  # a dashed line where each later stage begins
        if x_low < step <= x_high:
            x = sx(step)
            parts.append(f'<line class="stage-start" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" '
                         f'stroke="#888" stroke-dasharray="4 3"/><text x="{x + 3:.1f}" y="{top + 10}" '
                         f'fill="#555">{html.escape(stage)}</text>')
    for name, values in finite.items():
        colour = colours[name]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}">'
                     f"<title>{html.escape(name)}</title></polyline>")
        # Every point answers a hover with its value; dots are drawn while they do not crowd the line.
        opacity = "1" if len(values) <= 40 else "0"
        stride = math.ceil(len(values) / 300)
        for x, y in values[::-1][::stride]:
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}" fill-opacity="{opacity}">'
                         f"<title>{html.escape(name)} at step {x:.0f}: {y:.5g}</title></circle>")
    for index, name in enumerate(finite):
        x = left + (index % legend_columns) * ((width - left - right) / legend_columns)
        y = bottom + 46 + 16 * (index // legend_columns)
        last = finite[name][-1][1]
        parts.append(f'<g class="legend-item"><line x1="{x:.1f}" y1="{y - 4}" x2="{x + 18:.1f}" y2="{y - 4}" '
                     f'stroke="{colours[name]}" stroke-width="3"/><text x="{x + 24:.1f}" y="{y}">'
                     f"{html.escape(name)} (last {last:.4g})</text></g>")
    parts.append("</svg>")
    return "".join(parts)


def chart_key(key: str) -> tuple[str, str]:
    """The chart a logged key belongs on and that chart's y-axis label."""
    if key.endswith("_score"):
        return "Discriminator real/fake scores", "score"
    if key.startswith("loss"):
        return "Losses", "loss"
    if key.startswith("lr"):
        return "Learning rates", "learning rate"
    return key, key


def series_by_key(rows: list[dict], skip: set[str] = NOT_PLOTTED) -> dict[str, list[tuple[float, float]]]:
    """(step, value) points of every numeric key logged per step (epoch means and stage markers left out)."""
    series: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        if row.get("event") in ("epoch", "stage"):
            continue
        for key, value in row.items():
            if key in skip or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            series.setdefault(key, []).append((row["step"], float(value)))
    return series


def _group(rows: list[dict]) -> dict[str, tuple[str, dict[str, list[tuple[float, float]]]]]:
    groups: dict[str, tuple[str, dict[str, list[tuple[float, float]]]]] = {}
    for key, points in series_by_key(rows).items():
        group, y_label = chart_key(key)
        groups.setdefault(group, (y_label, {}))[1][key] = points
    return groups


def inline_png(path: Path, caption: str) -> str:
    """A figure with the PNG inlined as a data URI (the page needs no other file and no network)."""
    encoded = base64.b64encode(path.read_bytes()).decode()
    return (f'<figure><img src="data:image/png;base64,{encoded}" alt="{html.escape(caption)}"/>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def html_page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ text-align: left; padding: 2px 12px 2px 0; vertical-align: top; }}
.charts svg {{ margin: 0 1em 1em 0; border: 1px solid #eee; }}
figure {{ display: inline-block; margin: 0 1em 1em 0; vertical-align: top; }}
img {{ image-rendering: pixelated; min-width: 256px; max-width: 520px; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
{body}
</body></html>
"""


def write_report(run_dir: Path, title: str, summary: dict[str, str]) -> Path:
    """Write ``report.html`` in ``run_dir`` from its metrics.jsonl and samples/ (images inlined)."""
    from gankit_core.engine.checkpoint import write_atomic

    rows = read_metrics(run_dir / "metrics.jsonl")
    stage_starts = [(row["step"], row["stage"]) for row in rows if row.get("event") == "stage"]
    charts = [svg_chart(name, series, stage_starts, y_label) for name, (y_label, series) in _group(rows).items()]
    samples = sorted((run_dir / "samples").glob("*.png")) if (run_dir / "samples").is_dir() else []
    if len(samples) > 12:  # keep the page small: evenly spaced grids, always the last one
        stride = math.ceil(len(samples) / 12)
        samples = samples[::stride] + ([samples[-1]] if (len(samples) - 1) % stride else [])
    figures = [inline_png(sample, sample.stem) for sample in samples]
    summary_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in summary.items()
    )
    body = (f"<table>{summary_rows}</table>\n"
            f'<h2>Curves</h2><div class="charts">{"".join(charts) or "<p>No metrics logged yet.</p>"}</div>\n'
            f'<h2>Samples</h2>{"".join(figures) or "<p>No sample grids yet.</p>"}')
    path = run_dir / "report.html"
    write_atomic(path, html_page(title, body).encode())
    return path
