"""The output topic: one record per (symbol, bar set, bar), key = symbol.

Time bars are :class:`BarRecord` values; activity bars (docs/bars.md) are
:class:`ActivityRecord` values, which say their bar type and threshold in place
of an interval.

Values are JSON built only from the bar (and, later, its indicators), so a
replayed bar produces a byte-identical record: duplicates are harmless and
detectable by key and `end_ns`.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import repeat, starmap
from typing import Any, TypeVar

import msgspec
import numpy as np
from aiokafka import AIOKafkaProducer

from ticksmith.bar import SERVED, START, ActivitySet, BarKey, Field
from ticksmith.indicators.closed import ClosedByInterval, ClosedValues
from ticksmith.indicators.columns import Bools
from ticksmith.kafka.ownership import partition_of
from ticksmith.store.bars import Bars, served
from ticksmith.store.calendar import Calendar

_EPOCH_UTC = Calendar()
T = TypeVar("T")


def _python(field: Field) -> Any:
    kind = int if field.json_type == "integer" else float
    return kind | None if field.nullable else kind


_RECORD_FIELDS: list[tuple[str, Any] | tuple[str, Any, Any]] = [
    ("symbol", str),
    ("interval_ms", int),
    (START.name, int),
    ("end_ns", int),
    *((field.name, _python(field)) for field in SERVED),
    ("indicators", dict[str, float | None], {}),
    ("ready", dict[str, bool], {}),
]


_ACTIVITY_FIELDS: list[tuple[str, Any] | tuple[str, Any, Any]] = [
    ("symbol", str),
    ("bar_type", str),  # ticks, volume or dollars
    ("threshold", int | float),
    (START.name, int),
    *((field.name, _python(field)) for field in SERVED),
    ("partial", bool),  # closed at an anchor under its threshold
    *_RECORD_FIELDS[-2:],
]


class ActivityRecord(msgspec.defstruct("ActivityRecord", _ACTIVITY_FIELDS)):  # type: ignore[misc]
    """One activity bar's output record: what :func:`decode_activity` returns."""


class BarRecord(msgspec.defstruct("Record", _RECORD_FIELDS)):  # type: ignore[misc]
    """One output record's value: what :func:`decode` returns and :func:`encode`
    writes. The publisher writes the same bytes without building these (see
    :func:`closed_records`). Its bar fields are ``bar.SERVED``'s, so it is made
    from that table (mypy sees its fields as Any)."""


_encoder = msgspec.json.Encoder()
_NOT_RENAMEABLE = re.compile(r'["\\\x00-\x1f]')  # what msgspec refuses as a renamed field


def encode(record: BarRecord) -> bytes:
    return _encoder.encode(record)


def decode(value: bytes) -> BarRecord:
    return msgspec.json.decode(value, type=BarRecord)


def decode_activity(value: bytes) -> ActivityRecord:
    return msgspec.json.decode(value, type=ActivityRecord)


def is_activity(value: bytes) -> bool:
    """Whether an output record is an activity bar's (its second key is bar_type)."""
    return b'"bar_type":' in value[:300]


def closed_records(
    interval_ms: BarKey, closed: ClosedValues, calendar: Calendar = _EPOCH_UTC
) -> list[bytes]:
    """Every closed bar's record value, in ``closed.bars`` order: the bytes
    :func:`encode` writes for its :class:`BarRecord`. A time bar's end is where
    the store's `calendar` ends it (a 23-hour day's is 23 hours after its start).

    Built a column at a time: one ``tolist()`` per column, then per bar one
    positional struct. NaN needs no mapping to None: the JSON encoder writes a
    non-finite float as ``null``, as it writes None. Each record is encoded
    into one scratch buffer and copied out, which costs less than a fresh
    buffer per record that grows as it is written.
    """
    activity = isinstance(interval_ms, str)
    record, indicators, ready = _record_types(
        tuple(closed.values), tuple(closed.ready), ActivityRecord if activity else BarRecord
    )
    n = len(closed.bars)
    values = starmap(indicators, _rows(closed.values.values(), n))
    flags = _shared_rows(ready, closed.ready.values(), n)
    rows = zip(*_bar_columns(interval_ms, closed, calendar), values, flags, strict=True)
    buffer, encode_into, out = bytearray(), _encoder.encode_into, []
    for bar in starmap(record, rows):
        encode_into(bar, buffer)
        out.append(bytes(buffer))
    return out


def _bar_columns(interval_ms: BarKey, closed: ClosedValues, calendar: Calendar) -> list[list[Any]]:
    """The :class:`BarRecord` (or :class:`ActivityRecord`) fields before its
    indicators, one list of Python scalars per field."""
    bars = closed.bars
    if isinstance(interval_ms, str):
        return _activity_columns(ActivitySet.of_label(interval_ms), closed)
    start = bars[START.name]
    end = calendar.buckets(interval_ms * 1_000_000).end(start)  # int64 holds ns to 2262
    symbols = _repeat_each(closed.symbols, closed.counts.tolist())
    return [
        symbols,
        [interval_ms] * len(bars),
        start.tolist(),
        end.tolist(),
        *(column.tolist() for column in served(bars).values()),
    ]


def _activity_columns(bar_set: ActivitySet, closed: ClosedValues) -> list[list[Any]]:
    bars, n = closed.bars, len(closed.bars)
    return [
        _repeat_each(closed.symbols, closed.counts.tolist()),
        [bar_set.kind] * n,
        [bar_set.json_threshold] * n,
        bars[START.name].tolist(),
        *(column.tolist() for column in served(bars).values()),
        (bars[bar_set.measure] < bar_set.threshold).tolist(),
    ]


def _repeat_each(items: list[T], counts: list[int]) -> list[T]:
    if counts.count(1) == len(counts):  # one bar each, as a step usually closes
        return items
    return [item for item, n in zip(items, counts, strict=True) for _ in range(n)]


def partitioned_records(
    closed: Mapping[BarKey, Mapping[str, Bars]],
    values: ClosedByInterval,
    partition: Callable[[str], int],
    calendar: Calendar = _EPOCH_UTC,
) -> dict[int, list[tuple[bytes, bytes]]]:
    """Every closed bar's (key, value) by partition; in each, intervals in
    `closed`'s order, then their symbols', then each symbol's bars."""
    out: dict[int, list[tuple[bytes, bytes]]] = {}
    for interval_ms in closed:
        at = values[interval_ms]
        counts = at.counts.tolist()
        keys = _repeat_each([symbol.encode() for symbol in at.symbols], counts)
        partitions = _repeat_each(list(map(partition, at.symbols)), counts)
        pairs = zip(keys, closed_records(interval_ms, at, calendar), strict=True)
        for p, pair in zip(partitions, pairs, strict=True):  # a loop per bar: half the cost
            out.setdefault(p, []).append(pair)  # of one per symbol's zip, repeat and islice
    return out


def _rows(columns: Iterable[Any], n: int) -> Iterator[tuple[Any, ...]]:
    lists = [column.tolist() for column in columns]
    return zip(*lists, strict=True) if lists else repeat((), n)


def _shared_rows(kind: Any, columns: Iterable[Bools], n: int) -> Iterable[Any]:
    """One `kind` struct per bar, built from the flag columns' rows; bars with
    equal rows share one. Few rows differ (all True past the warm-up), and one
    shared struct per bar costs less than a tuple and a struct per bar."""
    stacked = [*columns]
    if not stacked:
        return repeat(kind(), n)
    flags = np.column_stack(stacked)
    if flags.all():  # every indicator past its warm-up, as it soon is
        return repeat(kind(*[True] * len(stacked)), n)
    packed = np.ascontiguousarray(np.packbits(flags, axis=1))
    rows = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    shared = [kind(*row) for row in flags[first].tolist()]
    return [shared[i] for i in inverse.tolist()]


@functools.lru_cache(maxsize=16)
def _record_types(
    columns: tuple[str, ...], labels: tuple[str, ...], base: Any
) -> tuple[Any, Any, Any]:
    """A struct that encodes like `base` (:class:`BarRecord` or
    :class:`ActivityRecord`), and the builders of its indicators and ready
    objects from positional values: per bar, a struct is cheaper to build and to
    encode than a dict."""
    fields = [(f.name, f.type) for f in msgspec.structs.fields(base)[:-2]]
    record = msgspec.defstruct(
        "EncodedBar", [*fields, ("indicators", Any), ("ready", Any)], gc=False
    )
    return record, _keyed("Indicators", columns, float), _keyed("Ready", labels, bool)


def _keyed(name: str, keys: tuple[str, ...], kind: type) -> Callable[..., Any]:
    """Builds the JSON object with `keys`, in order, from positional values: a
    struct with renamed fields, or a dict for keys msgspec will not rename to
    (with a quote, a backslash or a control character)."""
    if any(map(_NOT_RENAMEABLE.search, keys)):
        return lambda *values: dict(zip(keys, values, strict=True))
    attrs = [f"f{i}" for i in range(len(keys))]
    rename = dict(zip(attrs, keys, strict=True))
    struct: type = msgspec.defstruct(name, [(a, kind) for a in attrs], rename=rename, gc=False)
    return struct


class Publisher:
    """Sends output records; :meth:`publish` returns once the broker acknowledged all.

    Records are appended to one batch per partition and sent as batches: a
    per-record ``send()`` costs more than building the record. The partition is
    the default partitioner's (murmur2 of the key), computed once per symbol.
    """

    def __init__(
        self, producer: AIOKafkaProducer, topic: str, calendar: Calendar = _EPOCH_UTC
    ) -> None:
        """`calendar`: the store's, which says where each time bar ends."""
        self._producer = producer
        self._topic = topic
        self._calendar = calendar
        self._partition_of: dict[str, int] = {}
        self._partitions = 0

    async def publish(self, closed: dict[BarKey, dict[str, Bars]], values: ClosedByInterval) -> int:
        """Send every closed bar (interval_ms -> symbol -> bars) with its indicator
        values (the indicator worker's for `closed`, which hold the bars too);
        wait for the broker's acks."""
        count, acks = await self.send(closed, values)
        await acks
        return count

    async def send(
        self, closed: dict[BarKey, dict[str, Bars]], values: ClosedByInterval
    ) -> tuple[int, asyncio.Future[list[Any]]]:
        """As :meth:`publish`, but return at once: the number of records and a
        future that is done when the broker acknowledged them all."""
        if not self._partitions and closed:
            self._partitions = len(await self._producer.partitions_for(self._topic))
        by_partition = partitioned_records(closed, values, self._partition, self._calendar)
        futures = [f for p, recs in by_partition.items() for f in await self._send(p, recs)]
        return sum(len(recs) for recs in by_partition.values()), asyncio.gather(*futures)

    def _partition(self, symbol: str) -> int:
        partition = self._partition_of.get(symbol)
        if partition is None:
            partition = self._partition_of[symbol] = partition_of(symbol, self._partitions)
        return partition

    async def _send(self, partition: int, records: list[tuple[bytes, bytes]]) -> list[Any]:
        futures = []
        batch = self._producer.create_batch()
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: ship it
                futures.append(await self._send_batch(batch, partition))
                batch = self._producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        futures.append(await self._send_batch(batch, partition))
        return futures

    async def _send_batch(self, batch: Any, partition: int) -> Any:
        return await self._producer.send_batch(batch, self._topic, partition=partition)
