"""What several commands share (an option, the console), in a module of its own so that plugins can import it
without the CLI."""

from __future__ import annotations

import sys

import click


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
