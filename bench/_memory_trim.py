"""`ticksmith run` with one candidate change, for bench/memory.py's optional `trim` mode.

The change: after the memory monitor evicts cache entries, call glibc's
``malloc_trim(0)`` so that the freed heap pages go back to the kernel. Without it
an eviction frees the frames' memory inside the process (glibc keeps it for
reuse) and RSS, the very signal the monitor judges, does not fall.

The service is not edited: this wrapper replaces ``relieve`` in the monitor's
module before the service starts, then runs ``ticksmith run`` as the CLI does.
Each trim is logged with its duration (it runs on the event loop) and the RSS
before and after.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import sys
import time

import psutil

from ticksmith.cli import main
from ticksmith.monitor import memory, pressure

log = logging.getLogger("bench.trim")
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
_relieve = pressure.relieve
_process = psutil.Process()


def relieve(
    level: pressure.Pressure,
    previous: pressure.Level,
    cache: pressure.Evictable,
    policy: pressure.PressurePolicy,
    collect: object = gc.collect,
) -> int:
    evicted = _relieve(level, previous, cache, policy, collect)  # type: ignore[arg-type]
    if evicted:
        before = _process.memory_info().rss
        started = time.perf_counter()
        _libc.malloc_trim(0)
        ms = (time.perf_counter() - started) * 1000
        after = _process.memory_info().rss
        log.warning(
            "malloc_trim after %d evictions: %.1f ms, rss %d -> %d", evicted, ms, before, after
        )
    return evicted


memory.relieve = relieve  # the name the Monitor calls

if __name__ == "__main__":
    sys.exit(main(["run"]))
