"""The proxy cache: derived pandas objects held strongly in a byte-bounded LRU
tier and handed to readers as ``weakref.proxy``.

An evicted value dies as soon as no reader pins it; a reader still holding its
proxy then gets ``ReferenceError``, which :meth:`ProxyCache.read` answers with a
recompute from the store. Values are versioned by their source, so a reader
never gets a value older than the store's state at the time of the read.

Indicator frames are :class:`GrowingFrame` values that the indicator worker
feeds (:meth:`ProxyCache.feed`) with every batch's closed bars, so they never
go stale; a reader gets a proxy to the frame's current snapshot. Recomputes
are counted by trigger: ``first`` (never built, or forgotten), ``reclaimed``
(evicted and collected) and ``stale`` (alive but out of date: the values the
worker does not feed, bars and ticks).
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

import numpy as np
import pandas as pd

from ticksmith.bar import BarKey
from ticksmith.cache.frames import GrowingFrame, Rows
from ticksmith.indicators.closed import ClosedValues
from ticksmith.metrics import Metrics

T = TypeVar("T")


class Key(NamedTuple):
    symbol: str
    kind: str  # "indicators", "ticks", ...
    interval_ms: BarKey  # or an activity set's label


class Source(Protocol):
    """Where a kind of value comes from: the store's version and a recompute."""

    def version(self, key: Key) -> int: ...

    def compute(self, key: Key) -> Any: ...


@dataclass(slots=True)
class _Entry:
    ref: weakref.ref[Any]
    version: int
    nbytes: int


def _readable(value: Any) -> Any:
    """What a reader gets: a growing frame's current snapshot, else the value."""
    return value.snapshot() if isinstance(value, GrowingFrame) else value


def _version(value: Any, entry: _Entry) -> int:
    """A fed frame's version is the bars it holds; other values keep theirs."""
    return value.total if isinstance(value, GrowingFrame) else entry.version


def deep_nbytes(value: Any) -> int:
    """Bytes really held by a value: pandas objects deep, numpy buffers, else 0."""
    if isinstance(value, pd.DataFrame):
        return int(value.memory_usage(index=True, deep=True).sum())
    if isinstance(value, pd.Series):
        return int(value.memory_usage(index=True, deep=True))
    if isinstance(value, GrowingFrame):
        return value.nbytes
    return int(getattr(value, "nbytes", 0))


class ProxyCache:
    def __init__(self, budget_bytes: int, sources: dict[str, Source], metrics: Metrics) -> None:
        self.budget_bytes = budget_bytes
        self._sources = sources
        self._metrics = metrics
        self._entries: dict[Key, _Entry] = {}
        # the growing frames' entries by (kind, interval) and symbol: what feed visits
        self._fed: dict[tuple[str, BarKey], dict[str, _Entry]] = {}
        self._strong: OrderedDict[Key, Any] = OrderedDict()  # LRU order, oldest first
        self.strong_bytes = 0

    def __len__(self) -> int:
        return len(self._strong)

    def get(self, key: Key) -> Any:
        """A proxy to the current value for `key`, computed if absent, dead or stale."""
        return weakref.proxy(_readable(self._value(key)))

    def read(self, key: Key, use: Callable[[Any], T]) -> T:
        """`use(proxy)`, recomputing once if the proxy's referent was reclaimed."""
        proxy = self.get(key)
        try:
            return use(proxy)
        except ReferenceError:
            self._metrics.cache_reference_errors.inc()
            with self.pin(key) as value:
                return use(value)

    @contextmanager
    def pin(self, key: Key) -> Iterator[Any]:
        """A strong reference for the length of a computation; eviction cannot reclaim it."""
        value = _readable(self._value(key))
        try:
            yield value
        finally:
            del value

    @contextmanager
    def pin_value(self, key: Key) -> Iterator[Any]:
        """As :meth:`pin`, but a growing frame itself instead of its snapshot, for a
        reader that takes a few rows straight from its columns (``GrowingFrame.rows``)."""
        value = self._value(key)
        try:
            yield value
        finally:
            del value

    def evict_to(self, target_bytes: int, reason: str = "pressure") -> int:
        """Drop least-recently-used strong references until at most `target_bytes` remain."""
        evicted = 0
        while self._strong and self.strong_bytes > target_bytes:
            key, _ = self._strong.popitem(last=False)
            self.strong_bytes -= self._entries[key].nbytes
            evicted += 1
        self._metrics.cache_evictions.labels(reason).inc(evicted)
        return evicted

    def feed(self, kind: str, interval_ms: BarKey, closed: ClosedValues) -> None:
        """Append a batch's closed bars and the worker's values to the frames held
        for them (alive: strongly held or pinned by a reader). Only symbols with a
        frame cost more than a dictionary lookup."""
        fed = self._fed.get((kind, interval_ms))
        if not fed:
            return
        ends = np.cumsum(closed.counts).tolist()
        rows: Rows | None = None  # laid out once, when a frame is held
        for symbol, n, end in zip(closed.symbols, closed.counts.tolist(), ends, strict=True):
            entry = fed.get(symbol)
            frame = entry.ref() if entry is not None else None
            if frame is None or entry is None:
                continue
            if rows is None or rows.columns != frame.columns:
                rows = Rows.of(frame.columns, closed.bars, closed.values)
            if grown := frame.append_rows(rows, end - n, end):
                entry.nbytes += grown
                if Key(symbol, kind, interval_ms) in self._strong:
                    self.strong_bytes += grown
        if self.strong_bytes > self.budget_bytes:
            self.evict_to(self.budget_bytes, reason="budget")

    def drop_symbols(self, symbols: set[str]) -> None:
        """Forget every entry of these symbols (their partitions were revoked)."""
        for key in [k for k in self._entries if k.symbol in symbols]:
            self._forget(key)

    def _value(self, key: Key) -> Any:
        source = self._sources[key.kind]
        version = source.version(key)
        entry = self._entries.get(key)
        value = entry.ref() if entry is not None else None
        if value is not None and entry is not None and _version(value, entry) == version:
            self._metrics.cache_hits.inc()
            if key in self._strong:
                self._strong.move_to_end(key)
            else:
                self._admit(key, value, entry.nbytes)
            return value
        trigger = "first" if entry is None else ("stale" if value is not None else "reclaimed")
        return self._recompute(key, source, version, trigger)

    def _recompute(self, key: Key, source: Source, version: int, trigger: str) -> Any:
        self._metrics.cache_misses.inc()
        self._forget(key)
        started = time.perf_counter()
        value = source.compute(key)
        elapsed = time.perf_counter() - started
        self._metrics.cache_recomputes.labels(trigger).inc()
        self._metrics.cache_recompute_seconds.labels(trigger).observe(elapsed)
        nbytes = deep_nbytes(value)
        self._entries[key] = entry = _Entry(weakref.ref(value), version, nbytes)
        if isinstance(value, GrowingFrame):
            self._fed.setdefault((key.kind, key.interval_ms), {})[key.symbol] = entry
        self._admit(key, value, nbytes)
        return value

    def _admit(self, key: Key, value: Any, nbytes: int) -> None:
        self._strong[key] = value
        self.strong_bytes += nbytes
        if self.strong_bytes > self.budget_bytes:
            self.evict_to(self.budget_bytes, reason="budget")

    def _forget(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        fed = self._fed.get((key.kind, key.interval_ms))
        if fed is not None and fed.get(key.symbol) is entry:
            del fed[key.symbol]
        if self._strong.pop(key, None) is not None:
            self.strong_bytes -= entry.nbytes
