"""The ``gankit`` command line (click + rich): a thin layer over gankit_core.api.

Nothing here imports torch at module level: ``gankit --help``, ``list`` and ``plugins`` stay fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from gankit_core import __version__
from gankit_core.cli_options import SummaryGroup, console, device_option, force_option, require_model
from gankit_core.errors import ConfigError, GankitError, debug_enabled, describe_os_error
from gankit_core.registry import KINDS


def fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


class GankitGroup(SummaryGroup):
    """Adds plugin commands, and turns user errors into one line and a non-zero exit."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugin_commands()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        return command if command is not None else self._plugin_commands().get(name)

    @staticmethod
    def _plugin_commands() -> dict[str, click.Command]:
        from gankit_core.plugins import get_plugins

        return {command.name: command for command in get_plugins().commands}

    def invoke(self, ctx: click.Context) -> Any:
        try:
            _warn_duplicates()  # a name two plugins both claim: said before any command runs
            return super().invoke(ctx)
        except GankitError as error:
            _show_traceback()
            fail(str(error), error.exit_code)
        except OSError as error:  # a path that cannot be read or written, a full disk: the user's, not a bug
            _show_traceback()
            fail(describe_os_error(error))
        except KeyboardInterrupt:
            fail("interrupted", 130)


def _show_traceback() -> None:
    if debug_enabled():
        import traceback

        traceback.print_exc()


def _warn_duplicates() -> None:
    from gankit_core.plugins import get_plugins

    for warning in get_plugins().warnings:
        click.echo(f"warning: {warning}", err=True)


def _warn_broken() -> None:
    from gankit_core.plugins import get_plugins

    broken = get_plugins().broken
    if broken:
        names = ", ".join(p.ref.distribution for p in broken)
        click.echo(f"warning: {len(broken)} plugin(s) failed to load ({names}); see 'gankit plugins'", err=True)


@click.group(cls=GankitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="gankit")
@click.option("--debug", is_flag=True, help="Show the traceback behind an error (or set GANKIT_DEBUG=1).")
def cli(debug: bool) -> None:
    """gankit: a plugin-based GAN toolkit for PyTorch."""
    if debug:
        import os

        os.environ["GANKIT_DEBUG"] = "1"


# ------------------------------------------------------------------------------------------ registry
@cli.command("list")
@click.argument("pattern", default="*")
@click.option("--kind", type=click.Choice(KINDS), help="Only this kind.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(pattern: str, kind: str | None, as_json: bool) -> None:
    """Every registered thing: kind, name, plugin, version, summary."""
    from gankit_core.plugins import get_registry

    entries = get_registry().list(pattern, kind)
    if as_json:
        click.echo(json.dumps([e.as_dict() for e in entries], indent=2))
        if not entries:
            sys.exit(1)  # as without --json: a script can test the exit code
        return
    if not entries:
        what = f"{kind} " if kind else ""
        raise GankitError(f"no {what}name matches '{pattern}'; 'gankit list' shows everything registered")
    from rich.table import Table

    table = Table("kind", "name", "plugin", "version", "summary", box=None, pad_edge=False)
    for entry in entries:
        table.add_row(entry.kind, entry.name, entry.plugin.distribution, entry.plugin.version, entry.summary)
    console().print(table)
    _warn_broken()


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--requirements", is_flag=True, help="Also show what each plugin requires.")
def plugins_command(as_json: bool, requirements: bool) -> None:
    """Installed plugins with their versions and hooks, and broken plugins with their error."""
    from rich.markup import escape

    from gankit_core.plugins import get_plugins

    infos = get_plugins().plugins
    if as_json:
        click.echo(json.dumps([p.as_dict(requirements) for p in infos], indent=2))
        return
    from rich.table import Table

    columns = ["plugin", "distribution", "version", "hooks / error"] + (["requires"] if requirements else [])
    table = Table(*columns, box=None, pad_edge=False)
    for info in infos:
        detail = ", ".join(h.removeprefix("register_") for h in info.hooks) if info.ok else f"[red]BROKEN: {info.error}[/]"
        detail += "".join(f"\n[yellow]warning: {escape(warning)}[/]" for warning in info.warnings)
        row = [info.ref.name, info.ref.distribution, info.ref.version, detail]
        if requirements:
            row.append(", ".join(info.requires))
        table.add_row(*row)
    console().print(table)


@cli.command("info")
@click.argument("name")
@click.option("--layers", is_flag=True, help="Per-layer output shapes and parameters at the default input size.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info_command(name: str, layers: bool, as_json: bool) -> None:
    """Summary, paper, config defaults and parameter counts of a model or component."""
    from rich.markup import escape

    from gankit_core.plugins import get_registry
    from gankit_core.summary import describe

    described = [describe(entry, layers) for entry in get_registry().find(name)]
    if as_json:
        click.echo(json.dumps(described if len(described) > 1 else described[0], indent=2, default=str))
        return
    from rich.table import Table

    out = console()
    for info in described:
        out.print(f"[bold]{info['kind']} {info['name']}[/]  ({info['plugin']} {info['version']})")
        out.print(f"  {info['summary']}")
        if info.get("paper"):
            out.print(f"  paper: {info['paper']}")
        if info.get("config"):
            table = Table("config", "type", "default", box=None, pad_edge=False)
            for row in info["config"]:
                table.add_row(row["name"], row["type"], repr(row["default"]))
            out.print(table)
        for preset in info.get("presets", ()):
            changes = ", ".join(f"{key}={value!r}" for key, value in preset["overrides"].items()) or "nothing"
            out.print(f"  preset [bold]{preset['name']}[/]: {escape(preset['summary'])}; sets {escape(changes)}")
            if preset["measured"]:
                out.print(f"    measured: {escape(preset['measured'])}")
        if len(info.get("stages", ())) > 1:
            for stage in info["stages"]:
                length = f"{stage['steps']} steps" if stage["steps"] is not None else f"{stage['epochs']} epochs"
                frozen = f"; frozen: {', '.join(stage['frozen'])}" if stage["frozen"] else ""
                out.print(f"  stage [bold]{stage['name']}[/] ({length}): trains {', '.join(stage['trains'])}{frozen}")
        for network, record in info.get("networks", {}).items():
            makes = " \\[inference]" if network in info.get("inference_networks", ()) else ""
            out.print(f"  network [bold]{network}[/]{makes} ({record['type']}): {record['params']:,} trainable "
                      "parameters")
            if layers and "layers" not in record and record["params"]:
                out.print("  no layer table: this component declares no example_inputs() to trace with")
            if "layers" in record:
                table = Table("layer", "type", "output", "params", box=None, pad_edge=False)
                for row in record["layers"]:
                    shape = " x ".join(map(str, row["output"])) if row["output"] else "-"
                    kind = row["type"] + (f" ({', '.join(row['parametrizations'])})" if row.get("parametrizations") else "")
                    table.add_row(row["layer"], kind, shape, f"{row['params']:,}")
                out.print(f"  input: {record['input']}")
                out.print(table)


@cli.group("plugin", cls=SummaryGroup)
def plugin_group() -> None:
    """Tools for plugin authors."""


@plugin_group.command("new")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              help="Where to create the plugin folder.")
def plugin_new(name: str, directory: Path) -> None:
    """Write a complete, installable plugin package with a working model and its tests."""
    from gankit_core.scaffold import write_plugin

    folder = write_plugin(name, directory)
    click.echo(f"wrote {folder}; install it with: pip install -e {folder}")


# ------------------------------------------------------------------------------------------ training
def _settings_from_options(options: dict[str, Any]) -> dict[str, Any]:
    names = ("steps", "epochs", "device", "precision", "seed", "sample_every", "checkpoint_every", "keep", "log_every",
             "channels_last", "stage")
    values = {name: options[name] for name in names if options.get(name) is not None}
    if options.get("compile"):
        values["compile"] = True
    if options.get("no_progress"):
        values["progress"] = False
    if options.get("strict"):
        values["strict_data"] = True
    if options.get("init_from") is not None:
        values["init_from"] = str(options["init_from"])
    if options.get("log"):  # given: replaces a --config file's [train] log list
        values["log"] = list(options["log"])
    return values


def training_options(function):
    """The options shared by ``run`` and ``bench``."""
    for decorator in reversed([
        click.option("--batch-size", type=int, help="Global batch size (default: the paper's)."),
        click.option("--image-size", type=int, help="Image size in pixels (default: the paper's)."),
        click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), help="Default: auto."),
        click.option("--device", help="auto, cpu, cuda or cuda:N (default: auto)."),
        click.option("--compile", is_flag=True, help="torch.compile the networks."),
        click.option("--channels-last", type=click.Choice(["auto", "on", "off"]),
                     help="NHWC memory format (default auto: where it pays)."),
        click.option("--data", help="Dataset spec: synthetic-faces[:style=cartoon], folder:PATH, ..."),
        click.option("--strict", is_flag=True, help="An unreadable image is an error, not a skipped warning."),
        click.option("--preset", help="Start from one of the model's named configurations ('gankit info MODEL' "
                                      "lists them); --set and flags override its values."),
        click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
                     help="Override a config value (a TOML literal); repeatable."),
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="TOML file with [config] and [train] tables (a run's config.toml works)."),
    ]):
        function = decorator(function)
    return function


def _model_overrides(model_name: str, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model config overrides, train settings) for MODEL from --config, flags and --set, in that order."""
    from gankit_core.config import parse_assignments, read_toml

    config: dict[str, Any] = {}
    train: dict[str, Any] = {}
    if options.get("config_file") is not None:
        from gankit_core import api

        document = read_toml(options["config_file"])
        api.check_tables(document, options["config_file"])
        named = document.get("model")
        if isinstance(named, str) and named != model_name:  # else its keys read as unknown to this model
            raise ConfigError(f"{options['config_file']} is a config of model '{named}', not '{model_name}': "
                              f"give it to 'gankit run {named}'")
        run_written = "model" in document and "versions" in document  # a run's config.toml: migrate its config
        config.update(api.run_config(document, options["config_file"]) if run_written else document.get("config", {}))
        train.update(document.get("train", {}))
        config.update({k: v for k, v in document.items()
                       if k not in ("config", "train", "versions", "model", "config_version", "preset")})
        if options.get("preset") is None and "preset" in document:  # a run's config.toml names its preset
            options["preset"] = document["preset"]
    for flag, key in (("batch_size", "batch_size"), ("image_size", "image_size"), ("data", "data")):
        if options.get(flag) is not None:
            config[key] = options[flag]
    config.update(parse_assignments(options.get("assignments", ())))
    train.update(_settings_from_options(options))
    return config, train


@cli.command("run")
@click.argument("model_name", metavar="MODEL")
@training_options
@click.option("--steps", type=int, help="Training steps (default: the model's).")
@click.option("--epochs", type=int, help="Train this many passes over the data instead of --steps.")
@click.option("--stage", help="Train this one stage of a multi-stage model alone (see 'gankit info MODEL').")
@click.option("--init-from", type=click.Path(path_type=Path),
              help="Start from the network weights of this checkpoint or run (e.g. an earlier stage's run).")
@click.option("--seed", type=click.IntRange(min=0), help="Random seed (default 0).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Run directory (default runs/MODEL-TIME).")
@click.option("--sample-every", type=int, help="Write a sample grid every N steps.")
@click.option("--checkpoint-every", type=int, help="Write a checkpoint every N steps.")
@click.option("--keep", type=int, help="Keep the newest N checkpoints (0 keeps all).")
@click.option("--log-every", type=int, help="Log metrics every N steps.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Continue this run directory instead (same as 'gankit resume').")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--log", "log", multiple=True, metavar="NAME",
              help="Tell this registered callback (a tracker) about the run; repeatable ('gankit list --kind callback').")
def run_command(model_name: str, resume_dir: Path | None, **options: Any) -> None:
    """Train MODEL on the built-in synthetic faces (or --data)."""
    from gankit_core import api

    if options.get("steps") is not None and options.get("epochs") is not None:
        raise click.UsageError("give --steps or --epochs, not both", click.get_current_context())
    config, train = _model_overrides(model_name, options)
    if resume_dir is not None:
        if config or options.get("preset") is not None:
            raise GankitError("--resume continues a run with its own config; drop --preset/--set/--config/size flags")
        document = api.read_run(resume_dir)
        if document["model"] != model_name:
            raise GankitError(f"{resume_dir} is a run of model '{document['model']}', not '{model_name}'")
        _refuse_a_finished_run(resume_dir, train.get("steps"))
        result = api.resume(resume_dir, **train)
    else:
        from gankit_core.engine import Trainer

        model = api.create_model(model_name, preset=options.get("preset"), **config)
        result = Trainer(model, api.run_settings(model, train), run_dir=options.get("out")).fit()
    _report_result(result)


def _report_result(result) -> None:
    click.echo(f"trained to step {result.step}; run directory: {result.run_dir}")
    if result.run_dir is not None:
        click.echo(f"  samples: {result.run_dir / 'samples'}   report: {result.run_dir / 'report.html'}")
    if result.skipped_steps:
        click.echo(f"  {result.skipped_steps} step(s) skipped for NaN/Inf losses", err=True)


@cli.command("resume")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--steps", type=int, help="Train to this many steps in total (default: the run's).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def resume_command(run_dir: Path, steps: int | None, no_progress: bool) -> None:
    """Continue a run exactly where its latest checkpoint stopped."""
    from gankit_core import api

    extra = {"progress": False} if no_progress else {}
    _refuse_a_finished_run(run_dir, steps)
    _report_result(api.resume(run_dir, steps, **extra))


def _refuse_a_finished_run(run_dir: Path, steps: int | None) -> None:
    """A resume without --steps trains to the total in the run's config.toml; once the run is there (or past it,
    after an earlier resume with a larger --steps), say so, rather than name a total the user never gave. A
    --steps equal to the step the run is at is refused too: nothing would be trained."""
    from gankit_core import api
    from gankit_core.engine.checkpoint import resolve_latest

    total = api.read_run(run_dir).get("train", {}).get("steps")
    if steps is None and not isinstance(total, int):
        return
    reached = _checkpoint_step(resolve_latest(run_dir))
    if reached is None:
        return
    if steps is None and reached >= total:
        raise GankitError(f"{run_dir} already finished at step {reached}; pass --steps N with N > {reached} to "
                          "train further")
    if steps == reached:  # else it "trains" nothing and reports success; fewer steps are the trainer's to refuse
        raise GankitError(f"{run_dir} is already at step {reached}; the step count is the total to train to, so give "
                          f"more than {reached}")


def _checkpoint_step(path: Path) -> int | None:
    """The step in a checkpoint's safetensors header, read without its tensors (None when unreadable: loading it
    then gives the full reason)."""
    try:
        with path.open("rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            return int(json.loads(handle.read(length))["__metadata__"]["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@cli.command("sample")
@click.argument("model_name", metavar="MODEL")
@click.option("--checkpoint", required=True, type=click.Path(path_type=Path), help="Checkpoint file or run directory.")
@click.option("-n", "count", type=int, default=64, show_default=True,
              help="How many samples (for a model whose grid shows inputs beside outputs, how many rows).")
@click.option("-o", "output", type=click.Path(dir_okay=False, path_type=Path), default=Path("samples.png"),
              show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@device_option
@force_option
def sample_command(model_name: str, checkpoint: Path, count: int, output: Path, seed: int, device: str,
                   force: bool) -> None:
    """Write a grid of samples from a checkpoint."""
    from gankit_core import api
    from gankit_core.images import save_grid
    from gankit_core.outputs import check_file

    if count < 1:
        raise GankitError("-n must be at least 1")
    require_model(model_name)
    check_file(output, (".png",), "a PNG grid", force=force, inputs=[checkpoint])
    loaded = api.load_checkpoint(checkpoint, model=model_name, device=device)
    images = loaded.sample(count, seed)
    save_grid(images, output, loaded.model.sample_columns)
    click.echo(f"wrote {output} ({count} samples from step {loaded.step})")


@cli.command("bench")
@click.argument("model_name", metavar="MODEL")
@training_options
@click.option("--steps", type=int, default=10, show_default=True, help="Timed steps (after warm-up).")
@click.option("--warmup", type=int, default=3, show_default=True, help="Untimed warm-up steps.")
@click.option("--stage", help="Time this stage of a multi-stage model (default: its first).")
@click.option("--remeasure-peak", is_flag=True, help="Measure the machine's convolution peak again (it is cached).")
@click.option("--inference", is_flag=True,
              help="Time inference instead: images/s in torch and in onnxruntime on the exported networks.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def bench_command(model_name: str, steps: int, warmup: int, remeasure_peak: bool, inference: bool, as_json: bool,
                  **options: Any) -> None:
    """Time MODEL's training step: images/s, ms/step (median), data time, GFLOP/s and their share of the
    machine's convolution peak; or (--inference) its inference."""
    from gankit_core import api
    from gankit_core.engine import bench

    if steps < 1 or warmup < 0:
        raise GankitError("--steps must be >= 1 and --warmup >= 0")
    config, train = _model_overrides(model_name, options)
    model = api.create_model(model_name, preset=options.get("preset"), **config)
    if inference:
        result = bench.benchmark_inference(model, device=train.get("device", "auto"), steps=steps, warmup=warmup)
    else:
        result = bench.benchmark(model, api.train_settings({**train, "progress": False}), steps=steps, warmup=warmup,
                                 remeasure_peak=remeasure_peak)
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else bench.describe(result))


def _add_builtin_command_modules() -> None:
    from gankit_core.cli_cache import cache_group
    from gankit_core.cli_data import data_group, landmarks_command
    from gankit_core.cli_ecosystem import export_command, report_command
    from gankit_core.cli_metrics import eval_command, fid_command, meqfi_group
    from gankit_core.demo import demo_command
    from gankit_core.translation import translate_command

    for command in (cache_group, data_group, landmarks_command, eval_command, fid_command, meqfi_group,
                    export_command, report_command, translate_command, demo_command):
        cli.add_command(command)


_add_builtin_command_modules()


def main() -> None:
    # Not click's standalone mode: its usage errors are three lines (usage, hint, error); gankit's are one.
    try:
        code = cli.main(prog_name="gankit", standalone_mode=False)
    except click.UsageError as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # bare 'gankit' (click >= 8.2): the help, as click shows it
            click.echo(error.format_message(), err=True)
            sys.exit(error.exit_code)
        hint = f" ('{error.ctx.command_path} --help' shows the usage)" if error.ctx is not None else ""
        fail(f"{error.format_message()}{hint}", error.exit_code)
    except click.ClickException as error:
        fail(error.format_message(), error.exit_code)
    except click.exceptions.Abort:
        fail("interrupted", 130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
