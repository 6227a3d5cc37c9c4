"""``gankit cache``: what gankit keeps under its cache directory (prepared folders, rendered synthetic
sets, FID statistics), with sizes, and ``gankit cache clear`` to remove it. No torch at import."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import click

from gankit_core.cli_options import SummaryGroup
from gankit_core.errors import GankitError

# The files gankit writes there, each named for its kind and a 16-digit hash of what it holds (rendered sets
# through synthetic_dataset.cached_arrays: synthetic-faces, synthetic-expression; FID statistics: fid-stats).
# Nothing else in the directory is listed or removed.
CACHED_FILE = re.compile(r"(?P<kind>[a-z][a-z0-9-]*)-[0-9a-f]{16}\.safetensors")


@dataclass
class CacheEntry:
    kind: str
    what: str
    images: int | None
    size: int | None
    bytes: int
    path: Path


def _disk_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def cache_entries(root: Path) -> list[CacheEntry]:
    """Every entry gankit wrote under ``root``, prepared folders first."""
    from gankit_core.data.prepared import FOLDERS, META

    entries: list[CacheEntry] = []
    folders = root / FOLDERS
    if folders.is_dir():
        for entry in sorted(folders.iterdir()):
            if entry.name.endswith(".lock"):
                continue
            if not entry.is_dir():
                continue
            try:
                meta = json.loads((entry / META).read_text())
                what = meta["root"] + ("" if Path(meta["root"]).is_dir() else "  (folder gone)")
                entries.append(CacheEntry("folder", what, meta["readable"], meta["size"], _disk_bytes(entry), entry))
            except (OSError, ValueError, KeyError):  # an interrupted preparation
                entries.append(CacheEntry("folder", f"(incomplete) {entry.name}", None, None, _disk_bytes(entry), entry))
    files = sorted(root.glob("*.safetensors")) if root.is_dir() else []
    for path in files:
        named = CACHED_FILE.fullmatch(path.name)
        if named is not None and path.is_file():
            entries.append(CacheEntry(named["kind"], path.name, None, None, path.stat().st_size, path))
    return entries


def _entries(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"


def _human(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1000
    return ""


@click.group("cache", cls=SummaryGroup, invoke_without_command=True)
@click.pass_context
def cache_group(ctx: click.Context) -> None:
    """Show what is in gankit's cache ($GANKIT_CACHE, else ~/.cache/gankit), with sizes."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from gankit_core.cli_options import console
    from gankit_core.data.synthetic_dataset import cache_dir

    root = cache_dir()
    entries = cache_entries(root)
    if not entries:
        click.echo(f"the cache is empty ({root})")
        return
    table = Table(box=None, header_style="bold")
    for column in ("kind", "what", "size", "images", "on disk"):
        table.add_column(column, overflow="fold", justify="right" if column in ("images", "on disk") else "left")
    for entry in entries:
        table.add_row(entry.kind, entry.what, f"{entry.size}px" if entry.size else "",
                      f"{entry.images:,}" if entry.images is not None else "", _human(entry.bytes))
    out = console()
    out.print(table)
    total = sum(entry.bytes for entry in entries)
    out.print(f"{_entries(len(entries))}, {_human(total)} in {root}  (`gankit cache clear` removes them)")


@cache_group.command("clear")
def clear_command() -> None:
    """Remove everything gankit cached: prepared folders are decoded again on their next run."""
    from gankit_core.data.synthetic_dataset import cache_dir

    root = cache_dir()
    entries = cache_entries(root)
    total = sum(entry.bytes for entry in entries)
    try:
        for entry in entries:
            if entry.path.is_dir():
                shutil.rmtree(entry.path)
            else:
                entry.path.unlink(missing_ok=True)
        for lock in (root / "folders").glob(".*.lock"):
            lock.unlink(missing_ok=True)
    except OSError as error:
        raise GankitError(f"cannot remove {error.filename}: {error.strerror}") from None
    click.echo(f"removed {_entries(len(entries))} ({_human(total)}) from {root}")
