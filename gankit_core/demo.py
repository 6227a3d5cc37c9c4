"""``gankit demo RUN``: a local web page (Gradio) that runs a trained model's inference commands on uploads.

Each view runs the very command a user would type (``gankit swap``, ``translate``, ``transfer``, ``sample``),
in-process, with the page's inputs as its arguments and a fresh folder as its output, then shows the PNG files
the command wrote. The page's results are therefore the command line's, byte for byte, and a bad input is the
command's own one-line error, shown in the page. Which views a run gets follows from what its model can do, as
the commands themselves decide it: a model with ``swap`` (cregan), a ``Translator`` (ugatit, cyclegan), a model
with ``transfer`` (expression); every model also gets samples for a seed. The options a view offers (regions,
directions, blend modes) are read from the command's own choices, so a new choice appears here with no change.

Gradio is the optional ``demo`` extra; the server binds 127.0.0.1 unless told otherwise, and sends nothing out
(Gradio's analytics are off).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from gankit_core.cli_options import device_option
from gankit_core.errors import GankitError, describe_os_error

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
log = logging.getLogger(__name__)


def require_demo_extra() -> None:
    if importlib.util.find_spec("gradio") is None:
        raise GankitError("gankit demo needs the 'demo' extra (gradio missing): pip install 'gankit[demo]'")


# ------------------------------------------------------------------------------------ running commands
@dataclass
class Outcome:
    """What one command run gave: the PNG files it wrote (oldest first) and a message for the page."""

    images: list[Path] = field(default_factory=list)
    message: str = ""
    ok: bool = True


def cli_command(name: str) -> click.Command | None:
    """The installed ``gankit NAME`` command (built in or from a plugin), or None."""
    from gankit_core.cli import cli

    with click.Context(cli) as context:
        return cli.get_command(context, name)


def option_choices(command: click.Command, option: str) -> tuple[str, ...]:
    """The choices of ``command``'s ``--option`` (empty when it has no such option or takes any value)."""
    for parameter in command.params:
        if f"--{option}" in getattr(parameter, "opts", ()) and isinstance(parameter.type, click.Choice):
            return tuple(parameter.type.choices)
    return ()


def option_default(command: click.Command, option: str) -> Any:
    for parameter in command.params:
        if f"--{option}" in getattr(parameter, "opts", ()):
            return parameter.default
    return None


def run_command(name: str, arguments: list[str], out: Path) -> Outcome:
    """Run ``gankit NAME ARGUMENTS...`` in this process, its output under ``out``; a user error (the command's
    one-line message) or a bug (its type and first line, the traceback going to the server's log) becomes the
    Outcome's message, never an exception."""
    command = cli_command(name)
    if command is None:
        return Outcome(message=f"'gankit {name}' is not installed", ok=False)
    warnings = io.StringIO()
    try:
        with contextlib.redirect_stderr(warnings):  # the command's warnings are shown in the page
            command.main(args=arguments, prog_name=f"gankit {name}", standalone_mode=False)
    except GankitError as error:
        return Outcome(message=f"error: {error}", ok=False)
    except OSError as error:
        return Outcome(message=f"error: {describe_os_error(error)}", ok=False)
    except click.ClickException as error:
        return Outcome(message=f"error: {error.format_message()}", ok=False)
    except Exception as error:  # a bug: the page says so in one line; the server's log has the traceback
        log.exception("gankit %s failed", name)
        first = str(error).splitlines()[0] if str(error) else ""
        return Outcome(message=f"internal error in 'gankit {name}' ({type(error).__name__}: {first}); "
                               "the server's log has the traceback", ok=False)
    images = sorted(out.rglob("*.png"), key=lambda path: (path.stat().st_mtime_ns, path.name))
    lines = [line.removeprefix("warning: ") for line in warnings.getvalue().splitlines() if line.strip()]
    return Outcome(images, "\n".join(lines))


# ---------------------------------------------------------------------------------------------- views
@dataclass(frozen=True)
class View:
    """One tab of the page: the command it runs, and whether a loaded model offers it."""

    command: str
    title: str
    offered: Callable[[Any], bool]


def _capable(protocol: str) -> Callable[[Any], bool]:
    """Whether a model has the capability ``protocol`` of gankit_core.interfaces names (imported when asked: it
    imports torch, which the CLI's start-up does not)."""

    def offered(model: Any) -> bool:
        from gankit_core import interfaces

        return isinstance(model, vars(interfaces)[protocol])

    return offered


# In the order the tabs appear: a model's own capability first, samples (which every model has) last. The tests
# are the commands' own: the capability protocols that gankit swap, translate and transfer check.
VIEWS = (
    View("swap", "Swap a region", _capable("SwapsRegions")),
    View("translate", "Translate", _capable("Translates")),
    View("transfer", "Transfer an expression", _capable("TransfersExpressions")),
    View("sample", "Samples", lambda model: True),
)


def offered_views(model: Any) -> list[View]:
    return [view for view in VIEWS if view.offered(model) and cli_command(view.command) is not None]


class Demo:
    """The page's actions for one run: each builds a command line, runs it, and returns images and a message."""

    def __init__(self, run: Path, device: str = "cpu") -> None:
        from gankit_core import api

        self.run = Path(run)
        self.device = device
        self.loaded = api.load_checkpoint(self.run, device=device)  # a bad RUN fails here, before any server
        self.model = self.loaded.model
        self.views = offered_views(self.model)
        self.workspace = Path(tempfile.mkdtemp(prefix="gankit-demo-"))

    def close(self) -> None:
        shutil.rmtree(self.workspace, ignore_errors=True)

    def _out(self) -> Path:
        return Path(tempfile.mkdtemp(dir=self.workspace))

    def _checkpoint(self) -> list[str]:
        return ["--checkpoint", str(self.run), "--device", self.device]

    @staticmethod
    def _missing(**uploads: str | None) -> Outcome | None:
        absent = [name for name, path in uploads.items() if not path]
        if absent:
            return Outcome(message=f"upload {' and '.join(absent)} first", ok=False)
        return None

    def swap(self, photo_a: str | None, photo_b: str | None, region: str, blend: str | None = None) -> Outcome:
        """``gankit swap A B --region R [--blend M]``: A with B's region and B with A's."""
        missing = self._missing(**{"photo A": photo_a, "photo B": photo_b})
        if missing:
            return missing
        out = self._out()
        arguments = [photo_a, photo_b, *self._checkpoint(), "--region", region, "-o", str(out)]
        if blend:
            arguments += ["--blend", blend]
        return run_command("swap", arguments, out)

    def translate(self, image: str | None, direction: str) -> Outcome:
        """``gankit translate IMAGE --direction D -o OUT.png``."""
        missing = self._missing(image=image)
        if missing:
            return missing
        out = self._out()
        return run_command("translate", [image, *self._checkpoint(), "--direction", direction,
                                         "-o", str(out / f"{Path(image).stem}-{direction}.png")], out)

    def transfer(self, source: str | None, target: str | None, method: str | None = None) -> Outcome:
        """``gankit transfer SOURCE TARGET [--method M]``: the target with the source's expression, and the
        landmark guide."""
        missing = self._missing(**{"the source face": source, "the target face": target})
        if missing:
            return missing
        out = self._out()
        arguments = [source, target, *self._checkpoint(), "-o", str(out)]
        if method:
            arguments += ["--method", method]
        return run_command("transfer", arguments, out)

    def sample(self, seed: float | int | None, count: float | int | None) -> Outcome:
        """``gankit sample MODEL -n N --seed S``: the sample grid."""
        if seed is None or count is None or int(seed) != seed or int(count) != count:
            return Outcome(message="the seed and the count must be whole numbers", ok=False)
        out = self._out()
        return run_command("sample", [self.model.name, *self._checkpoint(), "-n", str(int(count)),
                                      "--seed", str(int(seed)), "-o", str(out / "samples.png")], out)


# ----------------------------------------------------------------------------------------------- page
def _shown(outcome: Outcome) -> tuple[list[tuple[str, str]], str]:
    """(gallery items, message) for the page: each written image with its file name as caption."""
    items = [(str(path), path.name) for path in outcome.images]
    message = outcome.message if outcome.message else f"wrote {', '.join(path.name for path in outcome.images)}"
    return items, message


def build_page(demo: Demo):
    """The Gradio Blocks page: a header naming the run, then one tab per view."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry: the page works offline
    import gradio as gr

    model = demo.model
    staged = len(model.stages()) > 1 and demo.loaded.stage
    stage = f", stage {demo.loaded.stage}" if staged else ""
    with gr.Blocks(title=f"gankit demo: {model.name}", analytics_enabled=False) as page:
        gr.Markdown(f"# gankit demo: `{model.name}`\n`{demo.run}`, step {demo.loaded.step}{stage}. "
                    "Each view runs the gankit command shown beside it; its results are that command's files.")
        for view in demo.views:
            command = cli_command(view.command)
            with gr.Tab(view.title, elem_id=f"view-{view.command}"):
                inputs, action = _view_inputs(gr, demo, view.command, command)
                run = gr.Button("Run", variant="primary", elem_id=f"{view.command}-run")
                message = gr.Textbox(label="Message", interactive=False, elem_id=f"{view.command}-message")
                gallery = gr.Gallery(label="Result", elem_id=f"{view.command}-result", columns=2, height=420,
                                     object_fit="contain", format="png")

                def respond(*values, _action=action):
                    return _shown(_action(*values))

                run.click(respond, inputs=inputs, outputs=[gallery, message], api_name=view.command)
    return page


def _view_inputs(gr, demo: Demo, name: str, command: click.Command) -> tuple[list, Callable[..., Outcome]]:
    """The input widgets of one view and the Demo action they feed."""

    def upload(label: str, elem_id: str):
        # A file, not gr.Image: Gradio hands the command the uploaded bytes untouched (gr.Image decodes them
        # first, so a broken file would fail inside Gradio instead of giving the command's own message).
        with gr.Column():
            chosen = gr.File(label=label, file_types=["image"], type="filepath", elem_id=elem_id)
            shown = gr.Image(label=f"{label}: preview", interactive=False, height=200, elem_id=f"{elem_id}-preview")
        chosen.change(preview, inputs=chosen, outputs=shown)
        return chosen

    if name == "swap":
        with gr.Row():
            photos = [upload("Photo A", "swap-a"), upload("Photo B", "swap-b")]
        regions = option_choices(command, "region")
        inputs = [*photos, gr.Radio(list(regions), value=option_default(command, "region") or regions[0],
                                    label="Region (--region)", elem_id="swap-region")]
        blends = option_choices(command, "blend")
        if blends:
            default = option_default(command, "blend") or blends[0]
            inputs.append(gr.Radio(list(blends), value=default, label="Blend (--blend)", elem_id="swap-blend"))
        gr.Markdown("`gankit swap A B --checkpoint RUN --region R" + (" --blend M`" if blends else "`"))
        return inputs, demo.swap
    if name == "translate":
        directions = option_choices(command, "direction")
        inputs = [upload("Image", "translate-image"),
                  gr.Radio(list(directions), value=option_default(command, "direction") or directions[0],
                           label="Direction (--direction)", elem_id="translate-direction")]
        gr.Markdown("`gankit translate IMAGE --checkpoint RUN --direction D`")
        return inputs, demo.translate
    if name == "transfer":
        with gr.Row():
            inputs = [upload("Source (the expression)", "transfer-source"),
                      upload("Target (the face)", "transfer-target")]
        methods = option_choices(command, "method")  # the model's U-Net, or the classical landmark warp
        if methods:
            default = option_default(command, "method") or methods[0]
            inputs.append(gr.Radio(list(methods), value=default, label="Method (--method)", elem_id="transfer-method"))
        gr.Markdown("`gankit transfer SOURCE TARGET --checkpoint RUN" + (" --method M`" if methods else "`"))
        return inputs, demo.transfer
    with gr.Row():
        inputs = [gr.Number(value=0, precision=0, label="Seed (--seed)", elem_id="sample-seed"),
                  gr.Number(value=16 if demo.model.sample_columns is None else 4, precision=0, minimum=1,
                            maximum=256, label="Count (-n)", elem_id="sample-count")]
    gr.Markdown(f"`gankit sample {demo.model.name} --checkpoint RUN -n N --seed S`")
    return inputs, demo.sample


def preview(path: str | None) -> str | None:
    """The uploaded file for the preview when it is an image Pillow can read; nothing otherwise (the command
    itself reports a file it cannot read when the view runs)."""
    if not path:
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    return path


def serve(run: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, device: str = "cpu",
          ready: Callable[[str], None] | None = None) -> None:
    """Build the page for RUN and serve it until interrupted."""
    require_demo_extra()
    demo = Demo(run, device)
    try:
        page = build_page(demo)
        page.queue(default_concurrency_limit=1)  # one command at a time: they share the process's streams
        try:
            _, url, _ = page.launch(server_name=host, server_port=port, share=False, inbrowser=False, quiet=True,
                                    prevent_thread_lock=True, footer_links=[], run_history=False,
                                    show_error=False, allowed_paths=[str(demo.workspace)])
        except OSError as error:  # Gradio's own wording names its settings; say it in gankit's options
            reason = str(error).split(". ")[0].rstrip(".")
            raise GankitError(f"cannot serve the demo on {host}:{port} ({reason}); choose another --port or "
                              "--host") from None
        if ready is not None:
            ready(url)
        page.block_thread()
    finally:
        demo.close()


@click.command("demo")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to bind; 0.0.0.0 opens the page to your network (anyone there can run the model).")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True, help="Port.")
@device_option
def demo_command(run: Path, host: str, port: int, device: str) -> None:
    """A local web page for a trained run: upload images and see what the model makes of them.

    RUN is a run directory, a checkpoint file or an exported folder. The page's views run the gankit commands
    (swap, translate, transfer, sample) that the model supports, so their results are the commands' own."""
    require_demo_extra()

    def ready(url: str) -> None:
        click.echo(f"gankit demo of {run} at {url} (Ctrl-C stops it)")

    serve(run, host, port, device, ready)
