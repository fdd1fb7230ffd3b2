"""Giving freed heap memory back to the kernel after an eviction.

An evicted DataFrame's buffers are freed inside the process: glibc keeps the
freed chunks for reuse, and pages in the middle of the heap stay resident. RSS,
the signal the monitor judges, then hardly falls, and the monitor would keep
shedding the cache at every sample for nothing (bench/RESULTS.md, memory
section: 10,000 frames freed, RSS unchanged until ``malloc_trim``).
``malloc_trim(0)`` returns every whole free page to the kernel. It is glibc's;
elsewhere (musl, macOS) trimming is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim  # type: ignore[no-any-return,unused-ignore]


_TRIM = _malloc_trim()
AVAILABLE = _TRIM is not None


def trim() -> float:
    """Return free heap pages to the kernel; the seconds it took (0 if unavailable).
    It runs on the caller's thread: ~10 ms for a few hundred MiB of heap."""
    if _TRIM is None:
        return 0.0
    started = time.perf_counter()
    _TRIM(0)
    elapsed = time.perf_counter() - started
    log.debug("malloc_trim: %.1f ms", elapsed * 1000)
    return elapsed
