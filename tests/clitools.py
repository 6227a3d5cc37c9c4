"""What the CLI tests share: run ``gankit`` in a subprocess as a user would, check that an error is one line, and
snapshot a folder to show that nothing in it changed."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path


def _drop_root_override() -> None:
    """Root writes through any permission bits: drop CAP_DAC_OVERRIDE/READ_SEARCH so a 0555 folder is read-only."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        libc.prctl(24, capability, 0, 0, 0)  # PR_CAPBSET_DROP: root's next exec gets no such capability


AS_USER = {"preexec_fn": _drop_root_override} if os.geteuid() == 0 else {}


def gankit(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "gankit_core", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200", **(env or {})}, cwd=cwd, **AS_USER)


def one_error_line(result, *fragments, code: int = 1) -> str:
    """The one ``error:`` line of a failed command (warnings aside), checked to hold every fragment."""
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert str(fragment) in lines[0], lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (folders as None), to compare before and after a command."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}
