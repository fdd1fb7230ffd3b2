"""The fact monitor/heap.py rests on, on this machine's allocator (glibc)."""

from __future__ import annotations

import gc

import numpy as np
import psutil
import pytest

from ticksmith.monitor import heap

MiB = 1024 * 1024
pytestmark = pytest.mark.skipif(not heap.AVAILABLE, reason="malloc_trim is glibc's")


def test_freed_heap_in_the_middle_stays_resident_until_trimmed() -> None:
    """Buffers below glibc's mmap threshold live in the heap; freeing nine in ten
    leaves holes that the heap's top cannot give back, as evicted frames do."""
    process = psutil.Process()
    gc.collect()
    heap.trim()
    blocks = [np.ones(64 * 1024 // 8) for _ in range(3_000)]  # 64 KiB each, 188 MiB
    kept = blocks[::10]
    del blocks
    gc.collect()
    held = process.memory_info().rss
    took = heap.trim()
    released = held - process.memory_info().rss
    assert released > 100 * MiB, f"trim gave back {released / MiB:.0f} MiB"
    assert took > 0
    assert len(kept) == 300
