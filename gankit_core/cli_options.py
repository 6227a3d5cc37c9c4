"""Options several commands share, in a module of its own so that plugins can import it without the CLI."""

from __future__ import annotations

import click


def device_option(function):
    """``--device`` of the inference commands (sample, eval, fid, translate, swap, transfer): CUDA when present."""
    return click.option("--device", default="auto", show_default=True,
                        help="auto (a CUDA GPU when present, else the CPU), cpu, cuda or cuda:N.")(function)
