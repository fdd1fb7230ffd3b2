"""Records aiokafka cannot parse, found and stepped over so they cannot stop a member.

A record whose header key is not UTF-8 makes aiokafka's ``getmany()`` raise
``UnicodeDecodeError`` every time it is fetched, and drop the records fetched
with it: one such record would stall its partition, or crash-loop the member,
for ever. When that happens the member seeks every partition back to what it has
processed and asks each partition on its own; the partition that raises is
read one record at a time up to the bad record,
which is skipped (seek past it) and returned as a stand-in (its position only:
its bytes never reached Python) for the dead-letter topic, reason
``unreadable``. The records read on the way are processed as usual.
"""

from __future__ import annotations

import logging
import time

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from ticksmith.pipeline.assignment import Batch, Record

log = logging.getLogger(__name__)
UNREADABLE = (UnicodeDecodeError,)  # what aiokafka raises for a record it cannot parse
PATIENCE_S = 5.0


async def isolate(
    consumer: AIOKafkaConsumer,
    positions: dict[TopicPartition, int],
    timeout_ms: int,
    max_records: int,
) -> tuple[Batch, list[Record]]:
    """Records fetched partition by partition from `positions` (what the member has
    processed), and stand-ins for the unreadable ones.

    aiokafka has already moved the position of partitions drained in the failed
    ``getmany()`` past records it then dropped with the exception, so every
    partition is first sought back to where the member is."""
    for tp, offset in positions.items():
        consumer.seek(tp, offset)
    batch: Batch = {}
    bad: list[Record] = []
    for tp, offset in sorted(positions.items()):
        if offset >= (consumer.highwater(tp) or 0):
            continue  # nothing beyond what the member has
        got, skipped = await _read(consumer, tp, timeout_ms, max_records)
        batch.update(got)
        bad += skipped
    return batch, bad


async def _read(
    consumer: AIOKafkaConsumer, tp: TopicPartition, timeout_ms: int, max_records: int
) -> tuple[Batch, list[Record]]:
    deadline = time.monotonic() + PATIENCE_S  # the seek discarded the fetch: wait for it
    while time.monotonic() < deadline:
        try:
            got = await consumer.getmany(tp, timeout_ms=timeout_ms, max_records=max_records)
        except UNREADABLE:
            return await _one_by_one(consumer, tp, timeout_ms, max_records)
        if got:
            return got, []
    return {}, []


async def _one_by_one(
    consumer: AIOKafkaConsumer, tp: TopicPartition, timeout_ms: int, max_records: int
) -> tuple[Batch, list[Record]]:
    """Read `tp` a record at a time up to the unreadable one and step over it. The
    partition's fetch is discarded after a failure, so the first record may take a
    refetch: wait for it up to PATIENCE_S."""
    records: list[Record] = []
    deadline = time.monotonic() + PATIENCE_S
    while len(records) < max_records and time.monotonic() < deadline:
        try:
            got = await consumer.getmany(tp, timeout_ms=timeout_ms, max_records=1)
        except UNREADABLE as exc:
            offset = await consumer.position(tp)
            consumer.seek(tp, offset + 1)
            log.warning(
                "partition %d: the record at offset %d cannot be read (%s); skipped",
                tp.partition,
                offset,
                exc,
            )
            return ({tp: records} if records else {}), [_stand_in(tp, offset, exc)]
        if got:
            records += got[tp]
            deadline = time.monotonic() + PATIENCE_S
    return ({tp: records} if records else {}), []


def _stand_in(tp: TopicPartition, offset: int, exc: Exception) -> Record:
    detail = f"{type(exc).__name__}: {exc}"
    return ConsumerRecord(
        tp.topic,
        tp.partition,
        offset,
        -1,
        0,
        None,
        None,
        None,
        -1,
        -1,
        [("ticksmith.unreadable", detail.encode())],
    )
