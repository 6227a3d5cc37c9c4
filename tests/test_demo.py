"""``gankit demo RUN``: the page loads in headless Chromium (Debian's), an upload goes through, and the result is
the command line's own output for the same inputs; bad input is a message in the page."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from gankit_core import demo as demo_module
from gankit_core.cli import cli

sys.path.insert(0, str(Path(__file__).parent))
from browser import chromium  # noqa: E402  (a visible skip where Chromium is not installed)
from test_export import train_tiny  # noqa: E402  (one tiny config per model)

pytest.importorskip("gradio", reason="the demo extra is not installed (pip install 'gankit[demo]')")

# Debian's Chromium as root in a container with no display and no network (the machine's documented switches).
CHROMIUM_SWITCHES = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def gankit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gankit_core", *args], capture_output=True, text=True, check=False)


def pixels(path: Path | bytes) -> np.ndarray:
    import io

    return np.asarray(Image.open(io.BytesIO(path) if isinstance(path, bytes) else path).convert("RGB"))


def synthetic_faces(out: Path, size: int, n: int = 2) -> list[Path]:
    made = gankit("data", "synth", "--n", str(n), "--size", str(size), "--out", str(out))
    assert made.returncode == 0, made.stderr
    return [out / f"face-{index:05d}.png" for index in range(n)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def served(run: Path, log: Path):
    """``gankit demo RUN`` in its own process; yields the URL it printed once the page answers."""
    import urllib.request

    port = free_port()
    with log.open("w") as output:
        process = subprocess.Popen([sys.executable, "-m", "gankit_core", "demo", str(run), "--port", str(port)],
                                   stdout=output, stderr=subprocess.STDOUT, text=True,
                                   env={**os.environ, "GANKIT_DEBUG": "1"})
    try:
        deadline = time.monotonic() + 90
        url = None
        while url is None:
            printed = [line for line in log.read_text().splitlines() if " at http://" in line]
            if printed:
                url = printed[0].split(" at ", 1)[1].split()[0]
                break
            assert process.poll() is None, f"gankit demo exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"gankit demo printed no address:\n{log.read_text()}"
            time.sleep(0.2)
        while True:
            try:
                urllib.request.urlopen(url, timeout=5).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "the demo page never answered"
                time.sleep(0.5)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """``tiny_run(name)``: a run directory of model ``name`` trained one tiny step, once per module."""
    runs: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in runs:
            runs[name] = train_tiny(name, tmp_path_factory.mktemp(name)).run_dir
        return runs[name]

    return get


@pytest.fixture(scope="module")
def cyclegan_run(tiny_run):
    return tiny_run("cyclegan")


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is a test dependency (make install)")
    executable = chromium()
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_SWITCHES)
        yield launched
        launched.close()


def test_the_page_translates_an_upload_exactly_as_gankit_translate_does(cyclegan_run, browser, tmp_path):
    face = synthetic_faces(tmp_path / "faces", 48, n=1)[0]  # another size than the model's: it resizes both ways
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    cli_output = tmp_path / "cli.png"
    translated = gankit("translate", str(face), "--checkpoint", str(cyclegan_run), "--direction", "b2a",
                        "-o", str(cli_output), "--device", "cpu")
    assert translated.returncode == 0, translated.stderr

    with served(cyclegan_run, tmp_path / "demo.log") as url:
        assert url.startswith("http://127.0.0.1:")  # loopback unless --host says otherwise
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        page.wait_for_selector("#translate-image")
        assert page.title() == "gankit demo: cyclegan"
        assert page.get_by_role("tab", name="Translate").is_visible()
        assert page.get_by_role("tab", name="Samples").is_visible()

        page.locator("#translate-image input[type=file]").set_input_files(str(face))
        page.wait_for_selector("#translate-image-preview img")  # the upload reached the server
        page.get_by_label("b2a").check()
        page.click("#translate-run")
        result = page.locator("#translate-result img").first
        result.wait_for()
        shown = page.request.get(result.get_attribute("src"))
        assert shown.ok
        assert np.array_equal(pixels(shown.body()), pixels(cli_output))
        assert page.locator("#translate-message textarea").input_value() == "wrote face-00000-b2a.png"

        # A file that is no image: the command's own one-line error, in the message box; no result, no traceback.
        page.goto(url)  # a fresh page: the file box holds the first upload until cleared
        page.locator("#translate-image input[type=file]").set_input_files(str(broken))
        page.click("#translate-run")
        message = page.locator("#translate-message textarea")
        page.wait_for_function("() => document.querySelector('#translate-message textarea').value.startsWith('error')")
        assert "broken.png" in message.input_value() and "\n" not in message.input_value()
        assert page.locator("#translate-result img").count() == 0
        assert "Traceback" not in page.content() and not errors
        page.close()


@pytest.mark.parametrize(("name", "method"), [("cregan", None), ("expression", None), ("expression", "warp"),
                                            ("dcgan", None)])
def test_each_view_gives_its_commands_files(name, method, tiny_run, tmp_path):
    """The swap, transfer (with each --method) and samples views: the page's action writes exactly what the
    command line writes."""
    run = tiny_run(name)
    demo = demo_module.Demo(run)
    try:
        size = demo.model.config.image_size
        a, b = synthetic_faces(tmp_path / "faces", size)  # crops with labels.csv and landmarks.csv beside them
        titles = [view.command for view in demo.views]
        if name == "cregan":
            assert titles == ["swap", "sample"]
            shown = demo.swap(str(a), str(b), "eyes")
            command = ["swap", str(a), str(b), "--region", "eyes"]
        elif name == "expression":
            assert titles == ["transfer", "sample"]
            shown = demo.transfer(str(a), str(b), method)
            command = ["transfer", str(a), str(b), *(["--method", method] if method else [])]
        else:
            assert titles == ["sample"]
            shown = demo.sample(3, 4)
            command = ["sample", name, "-n", "4", "--seed", "3", "-o", str(tmp_path / "cli" / "samples.png")]
        assert shown.ok, shown.message
        out = tmp_path / "cli"
        result = gankit(*command, "--checkpoint", str(run), "--device", "cpu",
                        *(["-o", str(out)] if name != "dcgan" else []))
        assert result.returncode == 0, result.stderr
        written = {path.name: path.read_bytes() for path in out.rglob("*.png")}
        assert {path.name: path.read_bytes() for path in shown.images} == written and written
    finally:
        demo.close()


def test_bad_input_in_a_view_is_a_message_never_an_exception(tiny_run, tmp_path):
    demo = demo_module.Demo(tiny_run("cregan"))
    try:
        blank = tmp_path / "blank.png"
        Image.fromarray(np.full((96, 96, 3), 128, np.uint8)).save(blank)
        no_face = demo.swap(str(blank), str(blank), "mouth")
        assert not no_face.ok and no_face.message.startswith("error: ") and "no face found" in no_face.message
        missing = demo.swap(None, str(blank), "mouth")
        assert not missing.ok and missing.message == "upload photo A first"
        bad_seed = demo.sample(1.5, 4)
        assert not bad_seed.ok and "whole numbers" in bad_seed.message
    finally:
        demo.close()


def test_demo_errors_before_serving_are_one_line(cyclegan_run, tmp_path, monkeypatch):
    result = gankit("demo", str(tmp_path / "nowhere"))
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "nowhere" in result.stderr, result.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = gankit("demo", str(cyclegan_run), "--port", str(port))
    assert busy.returncode == 1 and busy.stderr.count("\n") == 1, busy.stderr
    assert busy.stderr.startswith(f"error: cannot serve the demo on 127.0.0.1:{port} (")
    monkeypatch.setattr(demo_module.importlib.util, "find_spec", lambda name: None)
    missing = CliRunner().invoke(cli, ["demo", str(tmp_path)])
    assert missing.exit_code == 1
    assert "error: gankit demo needs the 'demo' extra (gradio missing): pip install 'gankit[demo]'" in missing.output
