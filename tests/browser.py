"""Opening a page in headless Chromium (Debian's ``chromium``) with nothing but the browser's own switches.

``--dump-dom`` gives the page after its load event, ``--enable-logging=stderr`` prints every console message
(errors, uncaught exceptions, resources that failed to load) as a ``CONSOLE`` line, and ``--screenshot`` draws it.
The page under test has no script of its own; a copy of it gets a small probe that, once the page has loaded,
writes each chart's and image's laid-out size into the DOM, where ``--dump-dom`` shows it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

PROBE = """<script>
window.addEventListener("load", () => {
  const shown = element => {
    const box = element.getBoundingClientRect(), style = getComputedStyle(element);
    return {width: box.width, height: box.height, top: box.top + window.scrollY,
            hidden: style.display === "none" || style.visibility === "hidden" || style.opacity === "0"};
  };
  const charts = [...document.querySelectorAll("svg.chart")].map(svg => ({...shown(svg),
    title: svg.getAttribute("aria-label"), lines: svg.querySelectorAll("polyline").length,
    x_ticks: svg.querySelectorAll("text.tick[text-anchor=middle]").length,
    y_ticks: svg.querySelectorAll("text.tick[text-anchor=end]").length,
    axis_labels: svg.querySelectorAll("text.axis-label").length,
    legend: svg.querySelectorAll("g.legend-item").length,
    hover: svg.querySelectorAll("circle > title").length}));
  const images = [...document.querySelectorAll("figure img")].map(img => ({...shown(img),
    alt: img.alt, decoded: img.complete && img.naturalWidth > 0}));
  const out = document.createElement("pre");
  out.id = "gankit-probe";
  out.hidden = true;
  out.textContent = JSON.stringify({charts, images, page_height: document.documentElement.scrollHeight});
  document.body.appendChild(out);
});
</script>"""

# Switches for root in a container with no display, no GPU and no network: a page that tries the network fails
# to resolve, which the console reports.
SWITCHES = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr", "--v=0"]


def chromium() -> str:
    """The Chromium binary, or a visible skip where there is none (.ci/run installs Debian's package)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); the browser test needs it")
    return path


@dataclass
class Rendered:
    charts: list[dict]
    images: list[dict]
    page_height: int
    console: list[str]  # every console message the page caused
    screenshot: Path


def _run(arguments: list[str], profile: Path) -> subprocess.CompletedProcess:
    command = [chromium(), *SWITCHES, f"--user-data-dir={profile}", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def render(page: Path, screenshot: Path, width: int = 1400) -> Rendered:
    """Load ``page`` (a copy with the probe) in headless Chromium, and screenshot the whole page."""
    probed = screenshot.with_name(f"{page.stem}-probed.html")
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    profile = screenshot.parent / "chromium-profile"
    loaded = _run([f"--window-size={width},1000", "--virtual-time-budget=5000", "--dump-dom", probed.as_uri()],
                  profile)  # the width the screenshot is taken at, so the page lays out the same
    found = re.search(r'<pre id="gankit-probe"[^>]*>(.*?)</pre>', loaded.stdout, re.S)
    assert found, f"the page did not finish loading in Chromium:\n{loaded.stderr[-2000:]}"
    import html

    probe = json.loads(html.unescape(found.group(1)))
    console = [line for line in loaded.stderr.splitlines() if ":CONSOLE" in line]
    # The screenshot is of the page itself, as tall as the probe measured it (capped for a huge page).
    height = min(int(probe["page_height"]) + 40, 12_000)
    drawn = _run([f"--window-size={width},{height}", f"--screenshot={screenshot}", page.as_uri()], profile)
    assert screenshot.is_file(), f"Chromium wrote no screenshot:\n{drawn.stderr[-2000:]}"
    console += [line for line in drawn.stderr.splitlines() if ":CONSOLE" in line]  # the page as it is, unprobed
    return Rendered(probe["charts"], probe["images"], probe["page_height"], console, screenshot)
