"""The consumer-group member: fetch a batch, apply its effects, then commit.

Commit order, enforced in :meth:`Ingestor._handle`: decode → dead letters
acknowledged by the broker → store updated → offsets committed. A crash before
the commit replays the batch; nothing is committed past a record whose effects
are not done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError
from prometheus_client import Gauge

from ticksmith.ingest.dead_letter import DeadLetters
from ticksmith.ingest.json_codec import RawRecord, decode
from ticksmith.ingest.reasons import Reason
from ticksmith.monitor.metrics import Metrics
from ticksmith.store.store import Store

log = logging.getLogger(__name__)
Record = ConsumerRecord[bytes, bytes]
Reject = tuple[Record, Reason, str]
Ints = npt.NDArray[np.int32]


class Ingestor(ConsumerRebalanceListener):
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        dead_letters: DeadLetters,
        store: Store,
        metrics: Metrics,
        *,
        interval_label: str,
        max_records: int,
        fetch_timeout_ms: int,
        max_record_bytes: int,
        on_revoked: Callable[[set[str]], None],
    ) -> None:
        self._consumer = consumer
        self._dead_letters = dead_letters
        self._store = store
        self._metrics = metrics
        self._interval = interval_label
        self._max_records = max_records
        self._timeout_ms = fetch_timeout_ms
        self._max_record_bytes = max_record_bytes
        self._on_revoked = on_revoked
        self._lock = asyncio.Lock()  # held while a batch is in flight
        self.assigned: set[TopicPartition] = set()
        self.next_offsets: dict[TopicPartition, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in flight then finishes and commits."""
        while not stop.is_set():
            batch = await self._consumer.getmany(
                timeout_ms=self._timeout_ms, max_records=self._max_records
            )
            async with self._lock:
                if batch:
                    await self._handle(batch)
                self._update_lag()

    async def _handle(self, batch: dict[TopicPartition, list[Record]]) -> None:
        with self._metrics.batch_seconds.time():
            records = [r for rs in batch.values() for r in rs]
            decoded = decode([_raw(r) for r in records], self._max_record_bytes)
            rejects: list[Reject] = [
                (records[x.index], x.reason, x.detail) for x in decoded.rejected
            ]
            result = self._store.apply(decoded.ticks)
            late = decoded.ticks.take(result.late)
            by_offset = {(r.partition, r.offset): r for r in records}
            rejects += [
                (by_offset[(int(p), int(o))], "late", "older than the forming bar")
                for p, o in zip(late.partition, late.offset, strict=True)
            ]
            await self._dead_letters.send(rejects)
            self._count(batch, decoded.ticks.partition[~result.late], result.bars_closed)
            await self._commit({tp: rs[-1].offset + 1 for tp, rs in batch.items()})

    def _count(
        self, batch: dict[TopicPartition, list[Record]], tick_partitions: Ints, bars: int
    ) -> None:
        parts, counts = np.unique(tick_partitions, return_counts=True)
        for p, n in zip(parts, counts, strict=True):
            self._metrics.ticks_consumed.labels(str(p)).inc(int(n))
        for tp, rs in batch.items():
            self._metrics.records_consumed.labels(str(tp.partition)).inc(len(rs))
        self._metrics.bars_closed.labels(self._interval).inc(bars)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError as exc:
            # The group moved on without us; the partitions' new owner replays the batch.
            log.warning("commit failed, the batch will be replayed by the new owner: %s", exc)
            return
        self.next_offsets.update(offsets)
        self._metrics.commits.inc()

    def _update_lag(self) -> None:
        for tp in self.assigned:
            high = self._consumer.highwater(tp)
            position = self.next_offsets.get(tp)
            if high is not None and position is not None:
                self._metrics.consumer_lag.labels(str(tp.partition)).set(max(0, high - position))

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._lock:  # the batch in flight finishes and commits first
            gone = {tp.partition for tp in revoked}
            self._on_revoked(set(self._store.drop_partitions(gone)))
            for tp in revoked:
                self.assigned.discard(tp)
                self.next_offsets.pop(tp, None)
                _remove(self._metrics.consumer_lag, str(tp.partition))
            log.info("partitions revoked: %s", sorted(gone))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.assigned = set(assigned)
        for tp in assigned:
            committed = await self._consumer.committed(tp)
            if committed is not None:
                self.next_offsets[tp] = committed
        log.info("partitions assigned: %s", sorted(tp.partition for tp in assigned))


def _raw(record: Record) -> RawRecord:
    return RawRecord(record.partition, record.offset, record.key, record.value)


def _remove(metric: Gauge, label: str) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(label)
