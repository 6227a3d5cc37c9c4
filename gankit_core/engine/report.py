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
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash: the rest still plots
    return rows


def _svg_chart(title: str, series: dict[str, list[tuple[float, float]]], stage_starts: list[tuple[int, str]] = (),
               width: int = 640, height: int = 260) -> str:
    points = [p for values in series.values() for p in values if math.isfinite(p[1])]
    if not points:
        return ""
    x_low, x_high = min(p[0] for p in points), max(p[0] for p in points)
    y_low, y_high = min(p[1] for p in points), max(p[1] for p in points)
    if x_high == x_low:
        x_high = x_low + 1
    if y_high == y_low:
        y_high, y_low = y_high + 0.5, y_low - 0.5
    left, right, top, bottom = 56, 12, 24, 28

    def sx(x: float) -> float:
        return left + (x - x_low) / (x_high - x_low) * (width - left - right)

    def sy(y: float) -> float:
        return top + (y_high - y) / (y_high - y_low) * (height - top - bottom)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
        f'<text x="{left}" y="15" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#999"/>',
        f'<text x="4" y="{top + 8}">{y_high:.3g}</text><text x="4" y="{height - bottom}">{y_low:.3g}</text>',
        f'<text x="{left}" y="{height - 8}">step {x_low:.0f}</text>',
        f'<text x="{width - right - 70}" y="{height - 8}">step {x_high:.0f}</text>',
    ]
    for step, stage in stage_starts:  # a dashed line where each later stage begins
        if x_low < step <= x_high:
            x = sx(step)
            parts.append(f'<line class="stage-start" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" '
                         f'stroke="#888" stroke-dasharray="4 3"/><text x="{x + 3:.1f}" y="{top + 10}" '
                         f'fill="#555">{html.escape(stage)}</text>')
    for index, (name, values) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values if math.isfinite(y))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>')
        parts.append(f'<text x="{width - right - 150}" y="{top + 14 * index + 10}" fill="{colour}">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _group(rows: list[dict]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    groups: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for row in rows:
        if row.get("event") in ("epoch", "stage"):
            continue
        for key, value in row.items():
            if key in NOT_PLOTTED or not isinstance(value, (int, float)):
                continue
            if key.endswith("_score"):
                group = "Discriminator real/fake scores"
            elif key.startswith("loss"):
                group = "Losses"
            elif key.startswith("lr"):
                group = "Learning rates"
            else:
                group = key
            groups.setdefault(group, {}).setdefault(key, []).append((row["step"], float(value)))
    return groups


def write_report(run_dir: Path, title: str, summary: dict[str, str]) -> Path:
    """Write ``report.html`` in ``run_dir`` from its metrics.jsonl and samples/ (images inlined)."""
    from gankit_core.engine.checkpoint import write_atomic

    rows = read_metrics(run_dir / "metrics.jsonl")
    stage_starts = [(row["step"], row["stage"]) for row in rows if row.get("event") == "stage"]
    charts = [_svg_chart(name, series, stage_starts) for name, series in _group(rows).items()]
    samples = sorted((run_dir / "samples").glob("*.png")) if (run_dir / "samples").is_dir() else []
    if len(samples) > 12:  # keep the page small: evenly spaced grids, always the last one
        stride = math.ceil(len(samples) / 12)
        samples = samples[::stride] + ([samples[-1]] if (len(samples) - 1) % stride else [])
    figures = []
    for sample in samples:
        encoded = base64.b64encode(sample.read_bytes()).decode()
        figures.append(
            f'<figure><img src="data:image/png;base64,{encoded}" alt="{sample.stem}"/>'
            f"<figcaption>{html.escape(sample.stem)}</figcaption></figure>"
        )
    summary_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in summary.items()
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ text-align: left; padding: 2px 12px 2px 0; }}
.charts svg {{ margin: 0 1em 1em 0; border: 1px solid #eee; }}
figure {{ display: inline-block; margin: 0 1em 1em 0; }} img {{ image-rendering: pixelated; max-width: 520px; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<table>{summary_rows}</table>
<h2>Curves</h2><div class="charts">{"".join(charts) or "<p>No metrics logged yet.</p>"}</div>
<h2>Samples</h2>{"".join(figures) or "<p>No sample grids yet.</p>"}
</body></html>
"""
    path = run_dir / "report.html"
    write_atomic(path, page.encode())
    return path
