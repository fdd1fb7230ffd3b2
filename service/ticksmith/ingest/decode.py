"""Decode one fetch of records, of any format, into tick columns plus rejects.

The format is told by a record's first byte: ``{`` or whitespace is JSON, a
byte below 0x20 is the version of the binary format, anything else is tried
as JSON (and rejected as such). Ticks come out in partition order, however the
formats were mixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ticksmith.ingest import binary_codec, json_codec
from ticksmith.ingest.checks import check
from ticksmith.ingest.records import Columns, RecordLike, Rejected
from ticksmith.ticks import TickBatch

_JSON_FIRST = frozenset(b"{ \t\r\n")


@dataclass(frozen=True, slots=True)
class Decoded:
    ticks: TickBatch
    rejected: list[Rejected]  # at most one per record, in input order


def decode(
    records: Sequence[RecordLike], max_record_bytes: int, max_future_skew_ms: int
) -> Decoded:
    rejected: list[Rejected] = []
    json_index: list[int] = []
    binary_index: list[int] = []
    for i, record in enumerate(records):
        value = record.value or b""
        if len(value) > max_record_bytes:
            rejected.append(Rejected(i, "too_large", f"{len(value)} bytes > {max_record_bytes}"))
        elif value and value[0] < 0x20 and value[0] not in _JSON_FIRST:
            binary_index.append(i)
        else:
            json_index.append(i)
    parts = []
    for codec, index in ((json_codec, json_index), (binary_codec, binary_index)):
        if index:
            cols, bad = codec.parse(records, index)
            parts.append(cols)
            rejected += bad
    cols = Columns.concat(parts) if len(parts) > 1 else parts[0] if parts else _no_columns()
    if len(parts) > 1:
        cols = cols.take(np.argsort(cols.record, kind="stable"))
    cols, failed = _drop_failed(cols, max_future_skew_ms)
    rejected += failed
    return Decoded(_batch(cols, records), sorted(rejected, key=lambda r: r.index))


def _drop_failed(cols: Columns, max_future_skew_ms: int) -> tuple[Columns, list[Rejected]]:
    """Remove failing ticks; one Rejected per record, naming its first failure."""
    failed = check(cols, max_future_skew_ms)
    if not failed:
        return cols, []
    starts = np.searchsorted(cols.record, cols.record)  # first tick of each tick's record
    first: dict[int, Rejected] = {}
    for tick, reason, detail in failed:
        record = int(cols.record[tick])
        if record not in first:
            first[record] = Rejected(record, reason, f"tick {tick - starts[tick]}: {detail}")
    keep = np.ones(len(cols.record), dtype=bool)
    keep[[tick for tick, _, _ in failed]] = False
    return cols.take(keep), list(first.values())


def _batch(cols: Columns, records: Sequence[RecordLike]) -> TickBatch:
    partition = np.fromiter((r.partition for r in records), dtype=np.int32, count=len(records))
    offset = np.fromiter((r.offset for r in records), dtype=np.int64, count=len(records))
    return TickBatch(
        symbol=cols.symbol,
        ts_ns=cols.ts_ns,
        price=cols.price,
        size=cols.size,
        side=cols.side,
        partition=partition[cols.record],
        offset=offset[cols.record],
    )


def _no_columns() -> Columns:
    none = np.empty(0, dtype=np.float64)
    return Columns(
        record=np.empty(0, dtype=np.intp),
        symbol=np.empty(0, dtype=object),
        ts_ns=np.empty(0, dtype=np.int64),
        price=none,
        size=none,
        side=np.empty(0, dtype=np.int8),
    )
