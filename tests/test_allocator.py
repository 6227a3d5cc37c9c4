"""A CPU run keeps glibc's malloc from unmapping large freed tensors: reallocating them takes no page faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc, on Linux")

# Each round frees and reallocates two tensors above glibc's largest mmap threshold (32 MiB), as a step's passes
# do; the page faults of the last rounds say whether their memory was reused or mapped and zeroed again.
ROUNDS = """
import json, resource, sys
import torch
from gankit_core.engine.placement import Placement
if sys.argv[1] == "cpu run":
    Placement.choose("cpu", "fp32", "auto", nhwc_pays_on_cpu=False)
faults = []
for _ in range(8):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.empty(40 << 20, dtype=torch.uint8).fill_(1)
    y = torch.empty(50 << 20, dtype=torch.uint8).fill_(1)
    del x, y
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(faults))
"""


def page_faults_per_round(case: str) -> list[int]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("MALLOC_", "GLIBC_"))
    }
    done = subprocess.run(
        [sys.executable, "-c", ROUNDS, case],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def test_a_cpu_run_reuses_large_freed_tensors_without_page_faults():
    pages = (90 << 20) // 4096  # both tensors' 4 KiB pages
    plain = page_faults_per_round("plain torch")
    assert min(plain[3:]) > pages // 2  # what the engine avoids: every round maps and faults them in again
    placed = page_faults_per_round("cpu run")
    assert max(placed[3:]) < pages // 100, placed  # reused in place after the first rounds
