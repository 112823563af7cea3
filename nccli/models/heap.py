"""Keeping freed memory in the process while a CPU loop allocates the same large tensors.

glibc's malloc serves blocks from 128 KiB up with fresh mappings and unmaps them when they
are freed, so a loop that allocates tens of megabytes of activations and gradients per step
has the kernel zero and map every page of them again on the next step. Inside
``reused_heap()`` all blocks come from the heap and freed ones stay there for the next step:
nc-overfit's fitting step on a 768x512 image, 2 CPU cores, takes 0.69-0.78 times as long
(scripts/bench_overfit.py --fitting), for a resident size of about 820 MiB instead of 570.
Elsewhere (not glibc) it does nothing.
"""

from __future__ import annotations

import ctypes
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager

#: mallopt parameters and glibc's defaults for them.
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
DEFAULT_TRIM_THRESHOLD, DEFAULT_MMAP_MAX = 128 * 1024, 65536
#: Free memory at the top of the heap is kept up to this size while inside reused_heap().
KEPT_BYTES = 2**31 - 1


@contextmanager
def reused_heap() -> Iterator[None]:
    """Serve every allocation from the heap and keep what is freed, until the block ends;
    then glibc's default policy returns, and the heap's free memory goes back to the system.
    Not reentrant."""
    libc = _glibc()
    if libc is None:
        yield
        return
    libc.mallopt(M_MMAP_MAX, 0)
    libc.mallopt(M_TRIM_THRESHOLD, KEPT_BYTES)
    try:
        yield
    finally:
        libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
        libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
        libc.malloc_trim(0)


def _glibc() -> ctypes.CDLL | None:
    """The running process' C library when it is glibc (mallopt and malloc_trim)."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    libc = ctypes.CDLL(None)
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
