"""What several commands share (an option, the console), in a module of its own so that plugins can import it
without the CLI."""

from __future__ import annotations

import sys

import click


def summary(command: click.Command) -> str:
    """A command's whole first help paragraph on one line (click's own short help cuts it at 45 characters or at
    the first full stop, even one inside "Eq. 4")."""
    text = command.short_help or (command.help or "").split("\n\n")[0]
    return " ".join(text.split())


class SummaryGroup(click.Group):
    """A command group whose help lists each command with its whole summary, wrapped to the width, never cut."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, summary(command)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def require_model(name: str) -> None:
    """Refuse a model name nobody registered before anything else is read (a checkpoint, say), so the error
    names the model and not what it would have been compared with."""
    from gankit_core.plugins import get_registry

    get_registry().get("model", name)


def device_option(function):
    """``--device`` of the inference commands (sample, eval, fid, translate, swap, transfer): CUDA when present."""
    return click.option("--device", default="auto", show_default=True,
                        help="auto (a CUDA GPU when present, else the CPU), cpu, cuda or cuda:N.")(function)


def force_option(function):
    """``--force`` of every command that writes: replace outputs that exist (gankit_core.outputs has the rule)."""
    return click.option("--force", is_flag=True,
                        help="Replace outputs that exist (never an input, a checkpoint, or a run's config or "
                             "metrics).")(function)


def console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Piped output is read by programs and people with wide windows: never wrap or cut it at 80 columns.
    width = None if stream.isatty() else 1_000
    return Console(stderr=stderr, highlight=False, emoji=False, width=width, soft_wrap=width is not None)
