"""Keeping freed memory in the process while a CPU loop allocates the same large tensors.

glibc's malloc serves blocks from 128 KiB up with fresh mappings and unmaps them when they
are freed, so a loop that allocates tens of megabytes of activations and gradients per step
has the kernel zero and map every page of them again on the next step. Inside
``reused_heap()`` all blocks come from the heap and freed ones stay there for the next step:
nc-overfit's fitting step on a 768x512 image, 2 CPU cores, takes 0.69-0.78 times as long
(scripts/bench_overfit.py --fitting), for a resident size of about 820 MiB instead of 570.
Elsewhere (not glibc) it does nothing.

Any mallopt() call stops glibc from adapting its mmap and trim thresholds for the rest of
the process, so the block does not leave glibc's 128 KiB starting values behind (a fresh
process then mapped 4 MiB blocks afresh on every allocation, for good): it leaves the
thresholds where glibc's own adaptation ends, allocations up to its largest mmap threshold
served from the heap and at most twice that kept free at its top.
"""

from __future__ import annotations

import ctypes
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager

#: mallopt parameters, and glibc's default for the most mappings.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
DEFAULT_MMAP_MAX = 65536
#: Where glibc's adaptive mmap threshold stops growing (DEFAULT_MMAP_THRESHOLD_MAX: 32 MiB on
#: 64-bit systems), and the trim threshold it sets beside it (twice that).
ADAPTED_MMAP_THRESHOLD = 4 * 2**20 * ctypes.sizeof(ctypes.c_long)
ADAPTED_TRIM_THRESHOLD = 2 * ADAPTED_MMAP_THRESHOLD
#: Free memory at the top of the heap is kept up to this size while inside reused_heap().
KEPT_BYTES = 2**31 - 1


@contextmanager
def reused_heap() -> Iterator[None]:
    """Serve every allocation from the heap and keep what is freed, until the block ends;
    then the heap's free memory goes back to the system, and glibc's thresholds are left
    where its own adaptation ends (see the module's docstring).
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
        libc.mallopt(M_MMAP_THRESHOLD, ADAPTED_MMAP_THRESHOLD)
        libc.mallopt(M_TRIM_THRESHOLD, ADAPTED_TRIM_THRESHOLD)
        libc.malloc_trim(0)


def _glibc() -> ctypes.CDLL | None:
    """The running process' C library when it is glibc (mallopt and malloc_trim)."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    libc = ctypes.CDLL(None)
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
