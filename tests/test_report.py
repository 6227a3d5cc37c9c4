"""The run report and the run comparison page: their charts as SVG, and both pages in a real browser (Chromium)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from gankit_core import api
from gankit_core.cli import cli
from gankit_core.engine.compare import config_differences
from gankit_core.engine.report import nice_ticks, svg_chart
from gankit_core.testing import TINY_DATA

sys.path.insert(0, str(Path(__file__).parent))
from browser import render  # noqa: E402

TINY_DCGAN = {"image_size": 32, "g_features": 8, "d_features": 8, "latent_dim": 16, "batch_size": 4,
              "data": TINY_DATA}


def train_tiny(out: Path, steps: int = 3, **overrides):
    model = api.create_model("dcgan", **{**TINY_DCGAN, **overrides})
    return api.train(model, out=out, steps=steps, device="cpu", progress=False, log_every=1, sample_every=1,
                     num_samples=4)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return train_tiny(root / "slow-lr", lr=1e-4).run_dir, train_tiny(root / "fast-lr", lr=1e-3).run_dir


def test_ticks_are_round_values_inside_the_range():
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(1, 3, integer=True) == [1, 2, 3]
    ticks = nice_ticks(0.37, 2.91)
    assert ticks[0] >= 0.37 and ticks[-1] <= 2.91 and len(ticks) >= 4


def test_a_chart_with_one_logged_point_still_draws():
    chart = svg_chart("Losses", {"loss_d": [(5, 0.7)]}, y_label="loss")
    assert '<circle cx=' in chart and 'fill-opacity="1"' in chart  # the point is a visible dot
    assert "loss_d at step 5: 0.7</title>" in chart  # its value on hover
    assert len(re.findall(r'class="tick"', chart)) >= 4  # ticks on both axes around the lone point
    assert ">step</text>" in chart and ">loss</text>" in chart


def test_config_differences_name_only_what_differs():
    runs = [{"model": "dcgan", "config": {"lr": 1e-4, "batch_size": 4}},
            {"model": "dcgan", "config": {"lr": 1e-3, "batch_size": 4}, "train": {"seed": 1}}]
    assert config_differences(runs) == {"config.lr": [1e-4, 1e-3], "train.seed": [None, 1]}


def test_report_of_a_short_run_renders_in_chromium(tmp_path):
    run_dir = train_tiny(tmp_path / "run").run_dir
    grids = sorted((run_dir / "samples").glob("*.png"))
    assert len(grids) == 3  # one per step

    page = render(run_dir / "report.html", tmp_path / "report.png")

    assert page.console == [], "the report caused console messages:\n" + "\n".join(page.console)
    titles = [chart["title"] for chart in page.charts]
    assert titles == ["Learning rates", "Losses", "Discriminator real/fake scores"]
    for chart in page.charts:
        assert chart["width"] > 300 and chart["height"] > 200 and not chart["hidden"], chart
        assert chart["lines"] >= 1 and chart["legend"] == chart["lines"], chart
        assert chart["x_ticks"] >= 3 and chart["y_ticks"] >= 3 and chart["axis_labels"] == 2, chart
        assert chart["hover"] == 3 * chart["lines"], chart  # every logged point answers a hover
    assert [image["alt"] for image in page.images] == [grid.stem for grid in grids]
    for image in page.images:
        assert image["decoded"] and image["width"] > 50 and image["height"] > 50 and not image["hidden"], image
    shot = np.asarray(Image.open(page.screenshot).convert("RGB"))
    assert shot.shape[0] >= page.page_height and shot.std() > 10  # the whole page, and not a blank one


def test_the_browser_check_sees_console_errors_and_broken_images(tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text('<!doctype html><html><body><figure><img src="missing.png" alt="gone"/></figure>'
                      "<script>undefined_function();</script></body></html>")
    page = render(broken, tmp_path / "broken.png")
    assert any("undefined_function" in line for line in page.console), page.console
    assert page.images[0]["decoded"] is False


def test_compare_two_runs_on_one_page(tmp_path, two_runs):
    output = tmp_path / "compare.html"
    result = CliRunner().invoke(cli, ["report", *map(str, two_runs), "-o", str(output)])
    assert result.exit_code == 0, result.output
    text = output.read_text()
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text
    table = re.search(r'<table class="config-differences">.*?</table>', text).group(0)
    assert "<th>config.lr</th><td>0.0001</td><td>0.001</td>" in table and "config.batch_size" not in table

    page = render(output, tmp_path / "compare.png")

    assert page.console == [], "the comparison caused console messages:\n" + "\n".join(page.console)
    titles = [chart["title"] for chart in page.charts]
    assert titles[:3] == ["loss_d", "loss_g", "fake_score"] and "images_per_s" in titles and "lr" in titles
    for chart in page.charts:
        assert chart["lines"] == 2 and chart["legend"] == 2 and chart["width"] > 300 and not chart["hidden"], chart
    assert [image["alt"] for image in page.images] == ["slow-lr: step-000003", "fast-lr: step-000003"]
    assert all(image["decoded"] and image["width"] > 50 for image in page.images), page.images
    left, right = page.images
    assert left["top"] == right["top"]  # side by side


def test_report_refuses_a_folder_that_is_no_run(tmp_path, two_runs):
    result = CliRunner().invoke(cli, ["report", str(two_runs[0]), str(tmp_path), "-o", str(tmp_path / "c.html")])
    assert result.exit_code == 1 and result.output.strip() == f"error: {tmp_path} is not a gankit run directory (no config.toml)"
