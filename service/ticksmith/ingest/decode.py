"""Decode one fetch of records, of any format, into tick columns plus rejects.

The format is told by a record's first byte: ``{`` or whitespace is JSON, a
byte below 0x20 is the version of the binary format, anything else is tried
as JSON (and rejected as such). Ticks come out in partition order, however the
formats were mixed.

Per record, Python only takes each value, key and length (three passes at C
speed); everything else is numpy over the whole fetch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import numpy.typing as npt

from ticksmith.ingest import binary_codec, json_codec
from ticksmith.ingest.checks import TS_MIN_NS, check, describe, latest_allowed_ns
from ticksmith.ingest.records import PAD, Columns, RecordLike, Rejected, Values
from ticksmith.ticks import TickBatch

_BINARY_FIRST = np.zeros(256, dtype=bool)  # first bytes that mean the binary format
_BINARY_FIRST[:0x20] = True
_BINARY_FIRST[list(b" \t\r\n")] = False
Ints = npt.NDArray[np.intp]
Runs = Sequence[tuple[int, int]]  # (partition, number of records), in input order


@dataclass(frozen=True, slots=True)
class Decoded:
    ticks: TickBatch
    rejected: list[Rejected]  # at most one per record, in input order


def decode(
    records: Sequence[RecordLike],
    max_record_bytes: int,
    max_future_skew_ms: int,
    runs: Runs | None = None,
    *,
    min_event_time_ns: int = TS_MIN_NS,
) -> Decoded:
    """`runs`, when the caller knows them (a fetch is grouped by partition), spares
    a pass over the records for their partitions and offsets. Ticks must lie between
    `min_event_time_ns` and `max_future_skew_ms` past their record's timestamp."""
    values, keys, length = _values(records)
    joined = b"".join([*values, PAD])  # padded once, so reads past a short record are safe
    buf = np.frombuffer(joined, dtype=np.uint8)
    first = buf[np.cumsum(length) - length]
    too_large = length > max_record_bytes
    binary = (length > 0) & _BINARY_FIRST[first] & ~too_large
    rejected = [
        Rejected(int(i), "too_large", f"{length[i]} bytes > {max_record_bytes}")
        for i in np.flatnonzero(too_large)
    ]
    every = Values(values, keys, np.arange(len(values)), length, joined)
    parts = []
    for codec, mask in ((json_codec, ~binary & ~too_large), (binary_codec, binary)):
        index = np.flatnonzero(mask)
        if not len(index):
            continue
        # one format, as usual: no sub-lists
        cols, bad = codec.parse(every if len(index) == len(values) else every.take(index))
        parts.append(cols)
        rejected += bad
    cols = Columns.concat(parts) if len(parts) > 1 else parts[0] if parts else Columns.empty()
    if len(parts) > 1:
        cols = cols.take(np.argsort(cols.record, kind="stable"))
    latest = partial(latest_allowed_ns, records, max_future_skew_ms)
    cols, failed = _drop_failed(cols, latest, min_event_time_ns)
    rejected += failed
    if len(rejected) > 1:
        rejected.sort(key=lambda r: r.index)
    return Decoded(_batch(cols, records, runs), rejected)


def joined(parts: Sequence[tuple[Decoded, int]]) -> Decoded:
    """The decoded chunks of some records (each with how many records it had) as
    one, equal to decoding the records at once: rejects indexed in all the records."""
    rejected: list[Rejected] = []
    at = 0
    for part, n in parts:
        rejected += shifted(part, at).rejected
        at += n
    if len(parts) == 1:
        return Decoded(parts[0][0].ticks, rejected)
    ticks = [part.ticks for part, _ in parts]
    return Decoded(TickBatch.concat(ticks) if ticks else TickBatch.empty(), rejected)


def shifted(decoded: Decoded, at: int) -> Decoded:
    """`decoded`, of records from index `at` of some records on, with its rejects
    indexed in all of them."""
    if not at or not decoded.rejected:
        return decoded
    return Decoded(decoded.ticks, [replace(r, index=r.index + at) for r in decoded.rejected])


def _values(
    records: Sequence[RecordLike],
) -> tuple[list[bytes], list[bytes | None], npt.NDArray[np.int64]]:
    """Values (a tombstone's None as b""), keys and value lengths. A None value is
    found by len() failing, which costs nothing when there is none."""
    values = [r.value for r in records]
    keys = [r.key for r in records]
    try:
        length = np.fromiter(map(len, values), dtype=np.int64, count=len(values))  # type: ignore[arg-type]
    except TypeError:
        values = [v or b"" for v in values]
        length = np.fromiter(map(len, values), dtype=np.int64, count=len(values))  # type: ignore[arg-type]
    return values, keys, length  # type: ignore[return-value]


def _drop_failed(
    cols: Columns, latest_ns: Callable[[], Ints], earliest_ns: int
) -> tuple[Columns, list[Rejected]]:
    """Remove failing ticks; one Rejected per record, naming its first failure.
    `latest_ns` gives each record's bound, when there are ticks to check. Python
    runs once per failing record, never per tick."""
    if not len(cols.record):
        return cols, []
    problem = check(cols, earliest_ns, latest_ns()[cols.record])
    failed = np.flatnonzero(problem)
    if not len(failed):
        return cols, []
    records, first = np.unique(cols.record[failed], return_index=True)
    ticks = failed[first]  # each failing record's first failing tick (cols.record is sorted)
    within = ticks - np.searchsorted(cols.record, records)
    rejected = []
    for record, tick, k in zip(records.tolist(), ticks.tolist(), within.tolist(), strict=True):
        reason, detail = describe(cols, tick, int(problem[tick]))
        rejected.append(Rejected(record, reason, f"tick {k}: {detail}"))
    return cols.take(problem == 0), rejected


def _batch(cols: Columns, records: Sequence[RecordLike], runs: Runs | None) -> TickBatch:
    partition, offset = _positions(records, runs)
    return TickBatch(
        code=cols.code,
        names=cols.names,
        ts_ns=cols.ts_ns,
        price=cols.price,
        size=cols.size,
        side=cols.side,
        partition=partition[cols.record],
        offset=offset[cols.record],
    )


def _positions(
    records: Sequence[RecordLike], runs: Runs | None
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """Partition and offset of every record. Within a run the offsets are usually
    consecutive (not after compaction or transaction markers): then the first and
    last say them all."""
    n = len(records)
    if runs is None:
        return (
            np.fromiter((r.partition for r in records), dtype=np.int32, count=n),
            np.fromiter((r.offset for r in records), dtype=np.int64, count=n),
        )
    partition = np.repeat(np.array([p for p, _ in runs], np.int32), [k for _, k in runs])
    offsets = []
    lo = 0
    for _, k in runs:
        if k:
            head, tail = records[lo].offset, records[lo + k - 1].offset
            if tail - head + 1 == k:
                offsets.append(np.arange(head, tail + 1, dtype=np.int64))
            else:
                part = records[lo : lo + k]
                offsets.append(np.fromiter((r.offset for r in part), np.int64, count=k))
        lo += k
    offset = np.concatenate(offsets) if offsets else np.empty(0, np.int64)
    return partition, offset
