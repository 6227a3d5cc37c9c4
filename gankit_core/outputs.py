"""The overwrite rule, in one place for every command that writes (sample, swap, translate, transfer, export,
report, data synth, data show, landmarks, meqfi sheet): nothing a user has is replaced by surprise.

- An output that exists is refused unless the command's ``--force`` (``data synth``: ``--overwrite``) is given;
  the refusal names the file.
- An output that is one of the command's inputs, a checkpoint, or a run's ``config.toml`` or ``metrics.jsonl``
  is refused even with ``--force``: a lost input or run cannot be written back.
- A file output ends in the extension of what is written (PNG bytes never land in ``s.jpg``, HTML never in
  ``config.toml``); a folder output is neither an existing file nor named like one (``-o t.txt``).
- Missing folders on the way to an output are created, by every command alike.

Commands check every output before their slow part (loading a checkpoint, rendering, inference), so a refusal
costs nothing and leaves nothing behind. No torch here: the CLI imports this at start-up.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from gankit_core.errors import GankitError

# Files of a run that hold its history: written by training only.
RUN_RECORDS = ("config.toml", "metrics.jsonl")
# A name ending in one of these is a file: a command that writes a folder refuses it (``-o photo.png/``).
FILE_SUFFIXES = frozenset({
    ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".html", ".htm", ".txt", ".md", ".csv",
    ".json", ".jsonl", ".toml", ".yaml", ".yml", ".onnx", ".safetensors", ".pt", ".pth", ".ckpt", ".npy", ".npz",
    ".pdf", ".zip", ".py",
})


class OutputRefused(GankitError):
    """An output path that would replace something the user has, or that does not fit what is written."""


def _same_path(a: Path, b: Path) -> bool:
    """Whether two names reach one file (the same path, a symlink to it, a hard link)."""
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _is_run_directory(folder: Path) -> bool:
    """A run's folder: its config.toml beside what training writes (a user's own config.toml elsewhere is not)."""
    return (folder / "config.toml").is_file() and any(
        (folder / name).exists() for name in ("checkpoints", "metrics.jsonl", "samples"))


def _within(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def protected_reason(path: Path, inputs: Iterable[Path] = (), input_folders: Iterable[Path] = ()) -> str | None:
    """Why ``path`` may never be written by a command, even with --force; None when it may. ``inputs`` are the
    files (or run directories) the command reads; every file that exists under one of ``input_folders`` (a
    dataset's folder) is an input too."""
    if any(_same_path(path, Path(source)) for source in inputs) or (
            _exists(path) and any(_within(path, Path(folder)) for folder in input_folders)):
        return "is one of this command's inputs"
    if path.suffix.lower() == ".safetensors":
        return "is a checkpoint file (.safetensors)"
    parent = path.resolve().parent
    if path.name == "latest" and parent.name == "checkpoints" and _is_run_directory(parent.parent):
        return f"is the pointer to the latest checkpoint of the run {parent.parent}"
    if path.name in RUN_RECORDS and _is_run_directory(parent):
        return f"is the {path.name} of the run {path.parent}"
    return None


def refuse_protected(path: Path, inputs: Iterable[Path] = (), input_folders: Iterable[Path] = ()) -> None:
    """Raise OutputRefused when ``path`` is one of the outputs no command may write (``protected_reason``)."""
    reason = protected_reason(path, inputs, input_folders)
    if reason is not None:
        raise OutputRefused(f"{path} {reason}; gankit never writes over it, not even with --force: "
                            "choose another output")


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _suffix_list(suffixes: Sequence[str]) -> str:
    return " or ".join(suffixes)


def check_file(path: Path, suffixes: Sequence[str], writes: str, *, force: bool = False,
               inputs: Iterable[Path] = (), input_folders: Iterable[Path] = (), flag: str = "--force") -> Path:
    """``path`` checked as the one file a command writes: ``writes`` says what (``"a PNG grid"``), ``suffixes``
    the extensions that name it (the first is the one suggested)."""
    path = Path(path)
    refuse_protected(path, inputs, input_folders)
    if path.is_dir():
        raise OutputRefused(f"{path} is a folder; this command writes {writes}: give a file ending in {suffixes[0]}")
    if path.suffix.lower() not in suffixes:
        raise OutputRefused(f"{path}: this command writes {writes}, so the file must end in "
                            f"{_suffix_list(suffixes)}, not {path.suffix or 'no extension'!r}")
    _refuse_existing([path], force, flag)
    _check_parents(path.parent)
    return path


def check_files(paths: Sequence[Path], *, force: bool = False, inputs: Iterable[Path] = (),
                flag: str = "--force") -> list[Path]:
    """Every file one command will write (into a folder, or one per network), checked before any is written."""
    paths = [Path(path) for path in paths]
    inputs = list(inputs)
    seen: set[Path] = set()
    for path in paths:
        if path.resolve() in seen:  # two inputs with one name would write one output twice
            raise OutputRefused(f"this command would write {path} twice (two inputs give it that name); "
                                "give the inputs distinct file names")
        seen.add(path.resolve())
        refuse_protected(path, inputs)
        if path.is_dir():
            raise OutputRefused(f"{path} is a folder where this command writes a file; move it or choose "
                                "another output")
    _refuse_existing(paths, force, flag)
    for parent in {path.parent for path in paths}:
        _check_parents(parent)
    return paths


def check_folder(folder: Path, writes: str) -> Path:
    """``folder`` checked as the folder a command writes ``writes`` (``"the swapped faces"``) into; the files
    themselves are checked with ``check_files``."""
    folder = Path(folder)
    if _exists(folder) and not folder.is_dir():
        raise OutputRefused(f"{folder} is a file; this command writes {writes} into a folder: give a folder")
    if not folder.exists() and folder.suffix.lower() in FILE_SUFFIXES:
        raise OutputRefused(f"{folder} is named like a file, but this command writes {writes} into a folder: "
                            f"give a folder name (without {folder.suffix})")
    _check_parents(folder)
    return folder


def _refuse_existing(paths: Sequence[Path], force: bool, flag: str) -> None:
    if force:
        return
    existing = [path for path in paths if _exists(path)]
    if not existing:
        return
    if len(existing) == 1:
        raise OutputRefused(f"{existing[0]} exists; add {flag} to replace it")
    raise OutputRefused(f"{existing[0]} and {len(existing) - 1} more of this command's outputs exist; "
                        f"add {flag} to replace them")


def _check_parents(folder: Path) -> None:
    """The nearest existing folder on the way must be a folder: a file there cannot hold the output."""
    for ancestor in (folder, *folder.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise OutputRefused(f"{ancestor} is a file, so nothing can be written under it")
            return
