"""Where the service's memory goes, part by part, in a fresh process without Kafka.

bench/memory.py runs this after its soak (``--no-parts`` skips it). It builds the
service's own parts (``ticksmith.app.build_parts`` and the ``IndicatorWorker``)
with the soak's settings, feeds them the same synthetic market one second of
ticks at a time (``Store.apply``, indicator update, output records encoded, as
the ingest loop does, minus Kafka), and reads RSS between the steps:

1. ``import ticksmith.app``: the interpreter and libraries;
2. the store phase: RSS against ``Store.nbytes`` (what ``ticksmith_store_bytes``
   reports) and against the indicator engine's per-symbol state arrays;
3. ``malloc_trim(0)``: how much of that RSS is freed heap that glibc kept;
4. the cache phase: every symbol's indicator frame computed and held through
   the proxy cache (budget unbounded): RSS per frame against ``deep_nbytes``
   (what ``ticksmith_cache_bytes`` counts);
5. ``evict_to(0)`` and a full collection, then ``malloc_trim(0)`` again;
6. tracemalloc's count for a sample of 500 frames computed afresh (last, since
   tracing costs memory of its own).

Prints one JSON object.

    .venv/bin/python bench/_memory_parts.py --symbols 10000 --rate 20000 --seconds 330
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import json
import os
import time
import tracemalloc
from typing import Any

import numpy as np
import psutil

MiB = 1024 * 1024
_PROCESS = psutil.Process()


def rss() -> int:
    return int(_PROCESS.memory_info().rss)


def malloc_trim() -> bool:
    """glibc's malloc_trim(0): give free heap pages back to the kernel."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True


def array_bytes(obj: Any, seen: set[int] | None = None, depth: int = 0) -> int:
    """numpy bytes reachable from obj through attributes, dicts, lists and tuples."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 6:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        base = obj
        while isinstance(base.base, np.ndarray):
            base = base.base
        if id(base) in seen and base is not obj:
            return 0
        seen.add(id(base))
        return int(base.nbytes)
    if isinstance(obj, dict):
        items: Any = obj.values()
    elif isinstance(obj, list | tuple):
        items = obj
    elif hasattr(obj, "__dict__") or hasattr(obj, "__slots__"):
        names = list(getattr(obj, "__dict__", {}))
        for cls in type(obj).__mro__:
            names += [s for s in getattr(cls, "__slots__", ()) if isinstance(s, str)]
        items = [getattr(obj, n, None) for n in names]
    else:
        return 0
    return sum(array_bytes(x, seen, depth + 1) for x in items)


def main(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"rss_bare": rss()}
    os.environ["TICKSMITH_WINDOW__TICKS_PER_SYMBOL"] = str(args.ticks_per_symbol)
    os.environ["TICKSMITH_BARS__HISTORY_BARS"] = str(args.history_bars)
    os.environ["TICKSMITH_BARS__INTERVALS_MS"] = f"[{args.interval_ms}]"
    os.environ["TICKSMITH_CACHE__BUDGET_BYTES"] = str(1 << 40)

    from prometheus_client import CollectorRegistry

    import ticksmith.app  # noqa: F401  (everything the service imports)
    from ticksmith.app import build_parts
    from ticksmith.cache.proxy_cache import Key
    from ticksmith.config import Settings
    from ticksmith.output import partitioned_records
    from ticksmith.produce.market import Market, symbol_names, tick_batch

    gc.collect()
    out["rss_import"] = rss()
    settings = Settings()
    _, store, worker, cache = build_parts(settings, CollectorRegistry())
    names = symbol_names(args.symbols)
    market = Market(names, seed=0, start_ns=time.time_ns(), spacing_ns=int(1e9 / args.rate))
    partition_of = {s: hash(s) % 6 for s in names}
    started = time.process_time()
    for _ in range(int(args.seconds)):
        ticks = market.chunk(args.rate)
        symbol = ticks["symbol"].to_numpy(dtype=object)
        batch = tick_batch(
            symbol=symbol,
            ts_ns=ticks["ts"].to_numpy(),
            price=ticks["price"].to_numpy(),
            size=ticks["size"].to_numpy(),
            side=(ticks["side"].to_numpy() == "S").astype(np.int8),
            partition=np.fromiter((partition_of[s] for s in symbol), np.int32, len(symbol)),
            offset=np.arange(len(symbol), dtype=np.int64),
        )
        result = store.apply(batch)
        values = worker.update(result.closed, result.evicted)
        partitioned_records(result.closed, values, partition_of.__getitem__)
        del ticks, symbol, batch, result, values
    out["store_cpu_s_per_s"] = (time.process_time() - started) / args.seconds
    gc.collect()
    out["rss_store"] = rss()
    out["store_nbytes"] = store.nbytes
    out["indicator_state_bytes"] = array_bytes(worker)
    out["symbols"] = len(store)
    out["trimmed"] = malloc_trim()
    out["rss_store_trimmed"] = rss()

    intervals = settings.bars.intervals_ms[0]
    before = rss()
    for s in names:
        with cache.pin(Key(s, "indicators", intervals)):
            pass
    gc.collect()
    out["frames"] = len(cache)
    out["rss_cache"] = rss()
    out["cache_rss_per_frame"] = (out["rss_cache"] - before) / len(cache)
    out["cache_deep_per_frame"] = cache.strong_bytes / len(cache)
    out["frame_rows"] = float(
        np.mean([len(store.get(s).bars[intervals]) for s in names[:100]])  # type: ignore[union-attr]
    )
    cache.evict_to(0)
    gc.collect()
    out["rss_evicted"] = rss()
    malloc_trim()
    out["rss_evicted_trimmed"] = rss()
    sample = names[: min(500, len(names))]
    held = []
    tracemalloc.start()
    for s in sample:
        held.append(cache._sources["indicators"].compute(Key(s, "indicators", intervals)))
    out["traced_per_frame"] = tracemalloc.get_traced_memory()[0] / len(held)
    tracemalloc.stop()
    first = held[0]  # a GrowingFrame, whose reads build a DataFrame: count that one's blocks
    frame = first.snapshot() if hasattr(first, "snapshot") else first
    out["frame_blocks"] = frame._mgr.nblocks
    return out


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--symbols", type=int, default=10_000)
    p.add_argument("--rate", type=int, default=20_000)
    p.add_argument("--seconds", type=float, default=330)
    p.add_argument("--ticks-per-symbol", type=int, default=64)
    p.add_argument("--history-bars", type=int, default=64)
    p.add_argument("--interval-ms", type=int, default=5000)
    return p.parse_args()


if __name__ == "__main__":
    print(json.dumps(main(parse_args())))
