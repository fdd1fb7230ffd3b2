"""The consumer-group member: fetch a batch, apply its effects, then commit.

Commit order, enforced in :meth:`Ingestor._live` and :meth:`Ingestor._settle`:
decode → store updated → output records and dead letters acknowledged by the
broker → offsets committed. The acknowledgements and the commit of one batch
overlap the fetch and the work of the next (one batch at most is in flight);
commits stay in order. A crash replays from the last commit (at most two
batches); nothing is committed past a record whose effects are not done.

On assignment each partition is replayed from a lookback before its committed
offset in warm-up mode (state only: no outputs, no dead letters, no commits),
so bars forming at the hand-over are complete when the member goes live.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError

from ticksmith.config import IngestSettings
from ticksmith.indicators.live import IndicatorWorker
from ticksmith.ingest.dead_letter import DeadLetters
from ticksmith.ingest.decode import Decoded, Runs, decode
from ticksmith.ingest.reasons import Reason
from ticksmith.monitor.metrics import Metrics
from ticksmith.output import Publisher
from ticksmith.store.store import ApplyResult, Store

log = logging.getLogger(__name__)
Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
Batch: TypeAlias = dict[TopicPartition, list[Record]]
Reject: TypeAlias = tuple[Record, Reason, str]


@dataclass(frozen=True)
class FetchSettings:
    max_records: int
    timeout_ms: int


class Ingestor(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka ships no types
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        publisher: Publisher,
        indicators: IndicatorWorker,
        dead_letters: DeadLetters,
        store: Store,
        metrics: Metrics,
        *,
        fetch: FetchSettings,
        ingest: IngestSettings,
        quiet_close_ms: int = 0,
        on_revoked: Callable[[set[str]], None],
    ) -> None:
        self._consumer = consumer
        self._publisher = publisher
        self._indicators = indicators
        self._dead_letters = dead_letters
        self._store = store
        self._metrics = metrics
        self._fetch = fetch
        self._ingest = ingest
        self._quiet_close_ns = quiet_close_ms * 1_000_000
        self._on_revoked = on_revoked
        self._lock = asyncio.Lock()  # held while a batch is in flight
        self._settling: asyncio.Task[None] | None = None  # see _settle
        self.assigned: set[TopicPartition] = set()
        self.next_offsets: dict[TopicPartition, int] = {}
        self._warm_until: dict[TopicPartition, int] = {}  # replay ends at this offset
        self._partial_replays: set[TopicPartition] = set()  # replays not from the beginning
        self._last_timestamp_ms: dict[TopicPartition, int] = {}
        self._recovery_started = 0.0

    @property
    def warming_up(self) -> bool:
        return bool(self._warm_until)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in flight then finishes and commits."""
        while not stop.is_set():
            batch = await self._consumer.getmany(
                timeout_ms=self._fetch.timeout_ms, max_records=self._fetch.max_records
            )
            async with self._lock:
                if batch:
                    await self._handle(batch)
                if self._quiet_close_ns and not self.warming_up:
                    await self._close_quiet()
                self._update_lag()
        async with self._lock:
            await self._settled()

    async def _handle(self, batch: Batch) -> None:
        self._metrics.batch_records.observe(sum(len(rs) for rs in batch.values()))
        with self._metrics.batch_seconds.time():
            warm, live = self._split(batch)
            if warm:
                self._warm_up(warm)
            if live:
                await self._live(live)
            self._finish_warm_up(batch)

    def _split(self, batch: Batch) -> tuple[list[Record], Batch]:
        warm: list[Record] = []
        live: Batch = {}
        for tp, records in batch.items():
            until = self._warm_until.get(tp, -1)
            if records[0].offset >= until:  # the usual case: all live
                live[tp] = records
                continue
            warm += [r for r in records if r.offset < until]
            rest = [r for r in records if r.offset >= until]
            if rest:
                live[tp] = rest
        return warm, live

    def _warm_up(self, records: list[Record]) -> None:
        decoded = self._decode(records)
        self._set_replay_floors(decoded)
        result = self._store.apply(decoded.ticks)
        self._indicators.update(result.closed)  # state only: outputs were the old owner's
        parts, counts = np.unique(decoded.ticks.partition, return_counts=True)
        for p, n in zip(parts, counts, strict=True):
            self._metrics.ticks_replayed.labels(str(p)).inc(int(n))
        self._metrics.partial_bars_dropped.inc(result.partial_dropped)

    def _set_replay_floors(self, decoded: Decoded) -> None:
        """A replay that starts after the log's beginning may cut bars short: bars that
        start before its first tick's event time are partial, and never kept."""
        ticks = decoded.ticks
        for tp in self._partial_replays:
            mine = ticks.partition == tp.partition
            if tp.partition not in self._store.replay_floor_ns and mine.any():
                self._store.replay_floor_ns[tp.partition] = int(ticks.ts_ns[mine].min())

    async def _live(self, batch: Batch) -> None:
        records = list(itertools.chain.from_iterable(batch.values()))
        decoded = self._decode(records, [(tp.partition, len(rs)) for tp, rs in batch.items()])
        result = self._store.apply(decoded.ticks)
        values = self._indicators.update(result.closed)
        rejects = self._rejects(records, decoded, result)
        published, acks = await self._publisher.send(result.closed, values)
        dead = await self._dead_letters.enqueue(rejects)
        self._count(batch, decoded, result, published)
        newest_s = int(decoded.ticks.ts_ns.max()) / 1e9 if len(decoded.ticks) else None
        offsets = {tp: rs[-1].offset + 1 for tp, rs in batch.items()}
        await self._settled()  # the batch before: acknowledged and committed, in order
        self._settling = asyncio.create_task(self._settle(acks, dead, offsets, newest_s))

    async def _settle(
        self,
        acks: asyncio.Future[Any],
        dead: asyncio.Future[None],
        offsets: dict[TopicPartition, int],
        newest_s: float | None,
    ) -> None:
        """Wait for a batch's outputs and dead letters to be acknowledged, then
        commit its offsets. Runs while the next batch is fetched and applied, so
        the broker's round trips overlap the work; at most one is in flight."""
        await asyncio.gather(acks, dead)
        if newest_s is not None:
            self._metrics.end_to_end_seconds.observe(max(0.0, time.time() - newest_s))
        await self._commit(offsets)

    async def _settled(self) -> None:
        """Wait for the batch being settled, if any; its failure is raised here."""
        task, self._settling = self._settling, None
        if task is not None:
            await task

    async def _close_quiet(self) -> None:
        """Close the bars of symbols that went quiet (wall clock past bar end + deadline)."""
        result = self._store.advance(time.time_ns() - self._quiet_close_ns)
        if result.closed:
            values = self._indicators.update(result.closed)
            published = await self._publisher.publish(result.closed, values)
            self._count_bars(result, published)

    def _decode(self, records: list[Record], runs: Runs | None = None) -> Decoded:
        ingest = self._ingest
        decoded = decode(records, ingest.max_record_bytes, ingest.max_future_skew_ms, runs)
        for reject in decoded.rejected:
            self._metrics.decode_failures.labels(reject.reason).inc()
        return decoded

    def _rejects(
        self, records: list[Record], decoded: Decoded, result: ApplyResult
    ) -> list[Reject]:
        rejects: list[Reject] = [(records[x.index], x.reason, x.detail) for x in decoded.rejected]
        late = result.late
        if len(late):
            by_offset = {(r.partition, r.offset): r for r in records}
            seen: set[tuple[int, int]] = set()
            for p, o, ts in zip(late.partition, late.offset, late.ts_ns, strict=True):
                if (int(p), int(o)) not in seen:
                    seen.add((int(p), int(o)))
                    rejects.append(
                        (by_offset[(int(p), int(o))], "late", f"ts={ts} before the forming bar")
                    )
        return rejects

    def _count(self, batch: Batch, decoded: Decoded, result: ApplyResult, published: int) -> None:
        parts, counts = np.unique(decoded.ticks.partition, return_counts=True)
        late_parts, late_counts = np.unique(result.late.partition, return_counts=True)
        counts[np.searchsorted(parts, late_parts)] -= late_counts
        for partition, n in zip(parts.tolist(), counts.tolist(), strict=True):
            self._metrics.ticks_consumed.labels(str(partition)).inc(n)
        for tp, rs in batch.items():
            self._metrics.records_consumed.labels(str(tp.partition)).inc(len(rs))
        self._count_bars(result, published)

    def _count_bars(self, result: ApplyResult, published: int) -> None:
        for interval_ms, by_symbol in result.closed.items():
            n = sum(len(rows) for rows in by_symbol.values())
            self._metrics.bars_closed.labels(f"{interval_ms}ms").inc(n)
        self._metrics.output_records.inc(published)
        self._metrics.partial_bars_dropped.inc(result.partial_dropped)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError as exc:
            # The group moved on without us; the partitions' new owner replays the batch.
            log.warning("commit failed, the batch will be replayed by the new owner: %s", exc)
            return
        self.next_offsets.update(offsets)
        self._metrics.commits.inc()

    def _finish_warm_up(self, batch: Batch) -> None:
        for tp, records in batch.items():
            self.next_offsets[tp] = max(self.next_offsets.get(tp, 0), records[-1].offset + 1)
            self._last_timestamp_ms[tp] = records[-1].timestamp
            if tp in self._warm_until and records[-1].offset + 1 >= self._warm_until[tp]:
                self._end_warm_up(tp)

    def _end_warm_up(self, tp: TopicPartition) -> None:
        del self._warm_until[tp]
        self._store.replay_floor_ns.pop(tp.partition, None)
        if not self._warm_until:
            elapsed = time.monotonic() - self._recovery_started
            self._metrics.recovery_seconds.observe(elapsed)
            log.info("warm-up done in %.3fs", elapsed)

    def _update_lag(self) -> None:
        now_ms = time.time() * 1000
        for tp in self.assigned:
            high = self._consumer.highwater(tp)
            position = self.next_offsets.get(tp)
            if high is None or position is None:
                continue
            behind = max(0, high - position)
            label = str(tp.partition)
            self._metrics.consumer_lag.labels(label).set(behind)
            last_ms = self._last_timestamp_ms.get(tp, now_ms)
            seconds = max(0.0, now_ms - last_ms) / 1000 if behind else 0.0
            self._metrics.consumer_lag_seconds.labels(label).set(seconds)

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._lock:  # the batch in flight finishes and commits first
            await self._settled()
            self._metrics.rebalances.inc()
            gone = {tp.partition for tp in revoked}
            self._on_revoked(set(self._store.drop_partitions(gone)))
            for tp in revoked:
                self.assigned.discard(tp)
                self.next_offsets.pop(tp, None)
                self._warm_until.pop(tp, None)
                self._store.replay_floor_ns.pop(tp.partition, None)
                self._last_timestamp_ms.pop(tp, None)
                for gauge in (self._metrics.consumer_lag, self._metrics.consumer_lag_seconds):
                    with contextlib.suppress(KeyError):
                        gauge.remove(str(tp.partition))
            log.info("partitions revoked: %s", sorted(gone))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._recovery_started = time.monotonic()
        self._partial_replays.clear()
        starts = await self._replay_starts(assigned)
        for tp, (start, committed, partial) in starts.items():
            self._consumer.seek(tp, start)
            self._warm_until[tp] = committed
            if partial:
                self._partial_replays.add(tp)
        self.assigned = set(assigned)  # only now: ready means assigned and warmed up
        if not self._warm_until:
            self._metrics.recovery_seconds.observe(time.monotonic() - self._recovery_started)
        log.info(
            "partitions assigned: %s; replaying %d records",
            sorted(tp.partition for tp in assigned),
            sum(c - s for s, c, _ in starts.values()),
        )

    async def _replay_starts(
        self, assigned: list[TopicPartition]
    ) -> dict[TopicPartition, tuple[int, int, bool]]:
        """(replay start, committed offset, starts after the log's beginning) for each
        partition that has a committed offset and something before it."""
        committed = {tp: await self._consumer.committed(tp) for tp in assigned}
        known = [tp for tp, off in committed.items() if off]
        if not known:
            return {}
        beginning = await self._consumer.beginning_offsets(known)
        by_time = await self._by_time(known)
        out: dict[TopicPartition, tuple[int, int, bool]] = {}
        for tp in known:
            end = committed[tp] or 0
            start = max(beginning[tp], end - self._ingest.replay_lookback_records)
            start = min(start, max(beginning[tp], by_time.get(tp, start)))
            if start < end:
                out[tp] = (start, end, start > beginning[tp])
        return out

    async def _by_time(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        if not self._ingest.replay_lookback_ms:
            return {}
        since = int(time.time() * 1000) - self._ingest.replay_lookback_ms
        found = await self._consumer.offsets_for_times({tp: since for tp in tps})
        return {tp: meta.offset for tp, meta in found.items() if meta is not None}
