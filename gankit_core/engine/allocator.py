"""Keep the C allocator from handing a step's large tensors back to the kernel between passes (glibc on Linux).

torch allocates CPU tensors with malloc. glibc serves an allocation above its mmap threshold (which grows with use
but never past 32 MiB) with a fresh mmap and unmaps it on free, and returns the top of its heap to the kernel when
more than its trim threshold is free there. A training step frees and allocates the same large activations and
gradients in every pass, so each one larger than 32 MiB was mapped again, and every 4 KiB page of it faulted in
and was zeroed by the kernel before torch wrote it: CycleGAN's generator at 256 px over [source; target] (feature
maps of 2 x 64 x 256 x 256 fp32, 33.5 MB) took about 200,000 page faults per forward and backward and ran 11 %
slower than two passes over one image each, whose maps stay under the threshold (docs/speed.md).

``keep_freed_memory`` serves allocations up to 1 GiB from the heap and never trims it, so freed memory is reused
in place. The process keeps its peak memory instead of returning it between steps (what a training run reaches in
its first step and holds for the rest anyway). A user's own ``MALLOC_*`` or ``GLIBC_TUNABLES`` settings win.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 1 << 30
NEVER_TRIM = -1  # mallopt(M_TRIM_THRESHOLD, -1) turns trimming off (mallopt(3))
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES")

_kept = False


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for reuse (once per process). False where that is not possible
    (another C library, another system) or the user set malloc's thresholds themselves; nothing changes then."""
    global _kept
    if _kept:
        return True
    if not sys.platform.startswith("linux") or any(name in os.environ for name in USER_SETTINGS):
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this process already runs on
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    # glibc's own symbol: other C libraries tune their malloc otherwise, if at all
    if not hasattr(libc, "gnu_get_libc_version"):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _kept = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, NEVER_TRIM))
    return _kept
