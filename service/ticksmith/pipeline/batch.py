"""One batch's effects: decode → store → indicators → output records and dead letters.

Warm-up records change state only (their outputs were the previous owner's).
Live records produce output records and dead letters, handed to the producer
and returned as :class:`Effects` for the settler, which commits their offsets
once the broker acknowledged them.

A live batch is decoded DECODE_RECORDS records at a time, each chunk applied
before the next is decoded; its ticks are applied in steps of at most
STEP_TICKS, and the event loop runs between steps (``BatchEffects._steps``), so
a large batch, or one that closes the bars of thousands of symbols at once, does
not hold the loop for its whole length. The member holds its lock for the whole
batch, so a rebalance never lands between the steps.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from aiokafka import TopicPartition

from ticksmith.config import IngestSettings
from ticksmith.indicators.closed import ClosedByInterval
from ticksmith.ingest.dead_letter import DeadLetters
from ticksmith.ingest.decode import Decoded, Runs, decode, joined, shifted
from ticksmith.ingest.reasons import Reason
from ticksmith.metrics import Metrics
from ticksmith.output import Publisher
from ticksmith.pipeline.assignment import Batch, Record
from ticksmith.pipeline.indicator_worker import IndicatorWorker
from ticksmith.pipeline.settle import Effects
from ticksmith.store.result import ApplyResult
from ticksmith.store.store import Store
from ticksmith.store.tick_window import Spare, Wider
from ticksmith.ticks import TickBatch

Reject = tuple[Record, Reason, str]
# ticks per step: ~0.4 ms of store and indicator work; ~8 ms when every tick closes
# a bar (10,000 symbols), then as long again to build the output records
STEP_TICKS = 2_048
DECODE_RECORDS = 2_048  # records decoded at once: 2-5 ms of the loop (1-2.5 us a record)


@dataclass
class BatchEffects:
    store: Store
    indicators: IndicatorWorker
    publisher: Publisher
    dead_letters: DeadLetters
    metrics: Metrics
    ingest: IngestSettings
    forget: Callable[[set[str]], None]  # symbols the store no longer holds
    # the worker's values, to the cache
    feed: Callable[[ClosedByInterval], None] = lambda values: None
    _spare: asyncio.Future[Spare] | None = field(default=None, init=False)  # being made

    async def warm_up(self, records: list[Record], floors: set[TopicPartition]) -> None:
        n = DECODE_RECORDS
        decoded = await self._decode_chunks(
            (records[lo : lo + n], None) for lo in range(0, len(records), n)
        )
        self._set_floors(decoded.ticks, floors)
        async for _, result, _ in self._steps(decoded.ticks):  # no outputs: the old owner's
            self.metrics.partial_bars_dropped.inc(result.partial_dropped)
        parts, counts = np.unique(decoded.ticks.partition, return_counts=True)
        for p, n in zip(parts.tolist(), counts.tolist(), strict=True):
            self.metrics.ticks_replayed.labels(str(p)).inc(n)

    async def live(self, batch: Batch, floors: set[TopicPartition]) -> Effects:
        """Apply a batch and hand its outputs and dead letters to the producer."""
        records = list(itertools.chain.from_iterable(batch.values()))
        rejects: list[Reject] = []
        acks: list[Awaitable[object]] = []
        async for decoded in self._live_chunks(batch, floors):
            rejects += [(records[x.index], x.reason, x.detail) for x in decoded.rejected]
            async for ticks, result, values in self._steps(decoded.ticks):
                await asyncio.sleep(0)  # building the step's output records is as long again
                published, outputs = await self.publisher.send(result.closed, values)
                if published:
                    await let_the_sender_write()
                acks.append(outputs)
                rejects += self._left_out(records, result)
                self._count(ticks, result, published)
        dead = await self.dead_letters.enqueue(rejects)
        for tp, rs in batch.items():
            self.metrics.records_consumed.labels(str(tp.partition)).inc(len(rs))
        written = [rs[0].timestamp for rs in batch.values() if rs[0].timestamp >= 0]
        return Effects(
            outputs=asyncio.gather(*acks),
            dead_letters=dead,
            offsets={tp: rs[-1].offset + 1 for tp, rs in batch.items()},
            written_s=min(written) / 1e3 if written else None,
        )

    async def _live_chunks(
        self, batch: Batch, floors: set[TopicPartition]
    ) -> AsyncIterator[Decoded]:
        """The batch decoded DECODE_RECORDS records at a time, each chunk applied
        before the next is decoded, so the bars of a large batch's first ticks
        (a backlog after a bar boundary's work) leave before the rest is decoded.
        Rejects are indexed in the whole batch. A batch with a partition still
        waiting for its floor (its earliest tick in the batch) is decoded at once."""
        pieces = chunks(batch, DECODE_RECORDS)
        if floors.intersection(batch):
            decoded = await self._decode_chunks(pieces)
            self._set_floors(decoded.ticks, floors)
            yield decoded
            return
        at = 0
        for records, runs in pieces:
            if at:
                await asyncio.sleep(0)
            yield shifted(self._decode(records, runs), at)
            at += len(records)

    async def _steps(
        self, ticks: TickBatch
    ) -> AsyncIterator[tuple[TickBatch, ApplyResult, ClosedByInterval]]:
        """Apply `ticks` at most STEP_TICKS at a time, giving the loop back before
        each step. A step updates the store, the indicator worker and the cache
        together, so a reader never sees a store ahead of the values fed to its
        frame; a step's results equal those of the whole batch at once (the store
        decides everything per tick, in order)."""
        for start in range(0, len(ticks), STEP_TICKS):
            await asyncio.sleep(0)  # timers, HTTP reads and heartbeats run here
            step = ticks.take(slice(start, start + STEP_TICKS))
            if (widen := self.store.window_room(step)) is not None:
                await self._widen(widen)
            result = self.store.apply(step)
            self._spare_ahead()
            values = self.indicators.update(result.closed, result.evicted)
            self.feed(values)
            self._expire(result)
            yield step, result, values

    def _spare_ahead(self) -> None:
        """Make the tick window's next widening's columns in a thread, ahead of it
        (TickWindow.spare_wanted)."""
        if self._spare is None and (shape := self.store.window.spare_wanted()) is not None:
            self._spare = asyncio.ensure_future(asyncio.to_thread(Spare.made, shape))
            self._spare.add_done_callback(self._keep_spare)

    def _keep_spare(self, made: asyncio.Future[Spare]) -> None:
        self._spare = None
        if not made.cancelled() and made.exception() is None:
            self.store.window.keep_spare(made.result())

    async def _widen(self, widen: Callable[[], Wider | None]) -> None:
        """Copy the tick window wider, or with rows for the step's new symbols, in a
        thread (every row: tens to hundreds of ms at thousands of symbols, which held
        the loop when ``apply`` did it)."""
        if (wider := await asyncio.to_thread(widen)) is not None:
            self.store.window.adopt(wider)

    async def unreadable(self, records: list[Record]) -> Effects:
        """Dead-letter stand-ins for records that could not be parsed (unreadable.py)."""
        rejects: list[Reject] = [(r, "unreadable", "could not be parsed") for r in records]
        dead = await self.dead_letters.enqueue(rejects)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        offsets: dict[TopicPartition, int] = {}
        for r in records:
            offsets[TopicPartition(r.topic, r.partition)] = r.offset + 1
        return Effects(outputs=done, dead_letters=dead, offsets=offsets)

    async def close_idle(self, partitions: Iterable[int], watermark_ns: int) -> None:
        """Close the bars that the wall clock closed in idle, caught-up partitions."""
        result = self.store.advance(watermark_ns, partitions)
        if result.closed:
            values = self.indicators.update(result.closed, result.evicted)
            self.feed(values)
            self._count_bars(result, await self.publisher.publish(result.closed, values))

    async def _decode_chunks(self, pieces: Iterable[tuple[list[Record], Runs | None]]) -> Decoded:
        """Decode chunk by chunk, giving the loop back between chunks."""
        parts: list[tuple[Decoded, int]] = []
        for records, runs in pieces:
            if parts:
                await asyncio.sleep(0)
            parts.append((self._decode(records, runs), len(records)))
        return joined(parts)

    def _decode(self, records: list[Record], runs: Runs | None = None) -> Decoded:
        ingest = self.ingest
        decoded = decode(
            records,
            ingest.max_record_bytes,
            ingest.max_future_skew_ms,
            runs,
            min_event_time_ns=ingest.min_event_time,
        )
        for reject in decoded.rejected:
            self.metrics.decode_failures.labels(reject.reason).inc()
        return decoded

    def _set_floors(self, ticks: TickBatch, floors: set[TopicPartition]) -> None:
        """A partition read from after its log's beginning may cut bars short: bars
        starting before its first ticks' event time are partial, and never kept
        (the floor holds while the partition is owned). `floors`: the partitions
        still waiting for their first ticks; each found here leaves it."""
        for tp in list(floors):
            mine = ticks.partition == tp.partition
            if mine.any():
                self.store.replay_floor_ns[tp.partition] = int(ticks.ts_ns[mine].min())
                floors.discard(tp)

    def _expire(self, result: ApplyResult) -> None:
        if result.expired:
            self.forget(set(result.expired))
            self.metrics.symbols_expired.inc(len(result.expired))

    def _left_out(self, records: list[Record], result: ApplyResult) -> list[Reject]:
        """Dead letters for the ticks the store refused: late, or over the symbol limit."""
        if not len(result.late) and not len(result.refused):
            return []
        by_offset = {(r.partition, r.offset): r for r in records}
        limit = f"store.max_symbols={self.store.max_symbols} reached"
        return [
            *_per_record(by_offset, result.late, "late", "before the forming bar"),
            *_per_record(by_offset, result.refused, "symbol_limit", limit),
        ]

    def _count(self, ticks: TickBatch, result: ApplyResult, published: int) -> None:
        parts, counts = np.unique(ticks.partition, return_counts=True)
        for left_out in (result.late, result.refused):
            out_parts, out_counts = np.unique(left_out.partition, return_counts=True)
            counts[np.searchsorted(parts, out_parts)] -= out_counts
        for partition, n in zip(parts.tolist(), counts.tolist(), strict=True):
            self.metrics.ticks_consumed.labels(str(partition)).inc(n)
        self._count_bars(result, published)

    def _count_bars(self, result: ApplyResult, published: int) -> None:
        for interval_ms, by_symbol in result.closed.items():
            n = sum(len(rows) for rows in by_symbol.values())
            self.metrics.bars_closed.labels(f"{interval_ms}ms").inc(n)
        self.metrics.output_records.inc(published)
        self.metrics.partial_bars_dropped.inc(result.partial_dropped)


def chunks(batch: Batch, size: int) -> Iterator[tuple[list[Record], Runs]]:
    """The batch's records, in order, `size` at a time, each chunk with its runs of
    (partition, number of records)."""
    records: list[Record] = []
    runs: list[tuple[int, int]] = []
    for tp, rs in batch.items():
        at = 0
        while at < len(rs):
            take = rs[at : at + size - len(records)]
            records += take
            runs.append((tp.partition, len(take)))
            at += len(take)
            if len(records) == size:
                yield records, runs
                records, runs = [], []
    if records:
        yield records, runs


def _per_record(
    by_offset: dict[tuple[int, int], Record], ticks: TickBatch, reason: Reason, why: str
) -> list[Reject]:
    """One reject per record of `ticks` (a record may carry many ticks)."""
    out: list[Reject] = []
    seen: set[tuple[int, int]] = set()
    where = zip(ticks.partition.tolist(), ticks.offset.tolist(), ticks.ts_ns.tolist(), strict=True)
    for p, o, ts in where:
        if (p, o) not in seen:
            seen.add((p, o))
            out.append((by_offset[(p, o)], reason, f"ts={ts}: {why}"))
    return out


# aiokafka's sender puts a batch on the wire four loop iterations after send_batch():
# the accumulator's waiter, asyncio.wait's callback, the sender (which starts a task
# per request), that task's write. Without these the next step ran first, and the
# records left (and their bars closed) a step's duration later.
SENDER_HOPS = 4


async def let_the_sender_write() -> None:
    for _ in range(SENDER_HOPS):
        await asyncio.sleep(0)
