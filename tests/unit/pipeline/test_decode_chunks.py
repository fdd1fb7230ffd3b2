"""A batch decoded chunk by chunk (the member gives the loop back between chunks)
gives the ticks and rejects of decoding it at once: every column, every symbol,
every reject's record index, reason and detail, whatever the chunk size and
however the records fall into partitions."""

from __future__ import annotations

import itertools

from aiokafka import TopicPartition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.ingest.test_decode_fuzz import MAX_RECORD_BYTES, SKEW_MS, Case, fetches
from ticksmith.ingest.decode import Decoded, decode, joined
from ticksmith.pipeline.batch import chunks
from ticksmith.ticks import TickBatch

COLUMNS = ("symbol", "ts_ns", "price", "size", "side", "partition", "offset")


def columns(ticks: TickBatch) -> dict[str, list[object]]:
    return {name: getattr(ticks, name).tolist() for name in COLUMNS}


def rejects(decoded: Decoded) -> list[tuple[int, str, str]]:
    return [(r.index, r.reason, r.detail) for r in decoded.rejected]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fetches(), st.data())
def test_decoding_in_chunks_equals_decoding_at_once(fetch: list[Case], data: st.DataObject) -> None:
    records = [c.record for c in fetch]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(records)), max_size=3)))
    bounds = [0, *cuts, len(records)]
    batch = {
        TopicPartition("ticks", p): records[lo:hi]
        for p, (lo, hi) in enumerate(itertools.pairwise(bounds))
        if hi > lo
    }
    runs = [(tp.partition, len(rs)) for tp, rs in batch.items()]
    size = data.draw(st.integers(1, len(records) + 1))

    at_once = decode(records, MAX_RECORD_BYTES, SKEW_MS, runs)
    parts = [(decode(rs, MAX_RECORD_BYTES, SKEW_MS, r), len(rs)) for rs, r in chunks(batch, size)]
    in_chunks = joined(parts)

    assert all(n <= size for _, n in parts)
    assert sum(n for _, n in parts) == len(records)
    assert rejects(in_chunks) == rejects(at_once)
    assert columns(in_chunks.ticks) == columns(at_once.ticks)
    where = {r.offset: tp.partition for tp, rs in batch.items() for r in rs}
    ticks = in_chunks.ticks
    assert ticks.partition.tolist() == [where[o] for o in ticks.offset.tolist()]
