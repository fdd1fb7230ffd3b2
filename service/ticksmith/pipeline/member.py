"""The consumer-group member: fetch a batch, apply its effects, settle it.

Commit order (settle.py): decode → store updated → output records and dead
letters acknowledged by the broker → offsets committed (at most every
kafka.commit_interval_ms, one commit for every batch acknowledged since the
last). Batches settle while the next ones are fetched and applied, up to
settle.MAX_IN_FLIGHT at once. A crash replays from the last commit: the
uncommitted tail.

The rebalance listener only delegates: on assignment, replay.py plans where
each partition starts and how much of it is warm-up, the member seeks there,
and assignment.py keeps anything fetched before the seek out of the pipeline.
On revocation, the batches in flight settle, everything acknowledged is
committed, and the partitions' state is dropped, even when the settle failed. A
failure in either listener (aiokafka would log and swallow it) or in a settle
stops the member: :meth:`run` raises it, and the process exits non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from ticksmith.errors import TicksmithError
from ticksmith.metrics import Metrics
from ticksmith.pipeline.assignment import Assignment, Batch, Record
from ticksmith.pipeline.batch import BatchEffects
from ticksmith.pipeline.replay import Plan, ReplayPlanner
from ticksmith.pipeline.settle import Settler
from ticksmith.pipeline.unreadable import UNREADABLE, isolate

log = logging.getLogger(__name__)
# records aiokafka turns into objects in one getmany() (~1 us each, holding the loop); a
# fetch of up to kafka.fetch_max_records is taken in pieces of this size
PARSE_RECORDS = 2_048
Fetched = tuple[Batch, int]  # a piece of a fetch and its stamp (Assignment.now)


class MemberFailed(TicksmithError):
    """The member cannot go on safely; the message says why."""


@dataclass(frozen=True)
class FetchSettings:
    max_records: int
    timeout_ms: int


class GroupMember(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka ships no types
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        effects: BatchEffects,
        planner: ReplayPlanner,
        settler: Settler,
        metrics: Metrics,
        *,
        fetch: FetchSettings,
        quiet_close_ms: int = 0,
        on_revoked: Callable[[set[str]], None],
    ) -> None:
        self._consumer = consumer
        self._effects = effects
        self._planner = planner
        self._settler = settler
        self._metrics = metrics
        self._fetch = fetch
        self._quiet_close_ns = quiet_close_ms * 1_000_000
        self._on_revoked = on_revoked
        self._lock = asyncio.Lock()  # a batch, a revocation or an assignment at a time
        self._assignment = Assignment()
        self._failure: MemberFailed | None = None
        self._recovery_started = 0.0

    @property
    def assigned(self) -> set[TopicPartition]:
        return self._assignment.partitions

    @property
    def warming_up(self) -> bool:
        return self._assignment.warming_up

    @property
    def next_offsets(self) -> dict[TopicPartition, int]:
        return self._assignment.next_offsets

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in flight then settles."""
        while not stop.is_set():
            self._raise_failure()
            pieces, unreadable = await self._next()
            async with self._lock:
                self._raise_failure()
                batch, stale = self._current(pieces)
                self._metrics.records_refetched.inc(stale)
                if batch:
                    await self._handle(batch)
                if unreadable:
                    await self._skip(unreadable, pieces[-1][1])
                if self._quiet_close_ns:
                    await self._close_idle(batch)
                self._update_lag()
        async with self._lock:
            await self._settler.settled()

    async def _next(self) -> tuple[list[Fetched], list[Record]]:
        """The next fetch, as pieces of at most PARSE_RECORDS records, each stamped
        when it came (a seek may follow any await); if a record in it cannot be
        parsed, the fetch partition by partition and stand-ins for the unreadable
        records (unreadable.py)."""
        fetch = self._fetch
        pieces: list[Fetched] = []
        wanted, timeout_ms = fetch.max_records, fetch.timeout_ms
        try:
            while wanted > 0:
                asked = min(wanted, PARSE_RECORDS)
                piece = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=asked)
                pieces.append((piece, self._assignment.now()))
                await asyncio.sleep(0)  # getmany() parsed the records: let timers and reads run
                got = sum(map(len, piece.values()))
                if got < asked:
                    break
                wanted, timeout_ms = wanted - got, 0  # only what has already arrived
        except UNREADABLE:  # the pieces before are fetched again, from what was processed
            positions = {tp: self.next_offsets[tp] for tp in self.assigned}
            batch, unreadable = await isolate(
                self._consumer, positions, fetch.timeout_ms, fetch.max_records
            )
            return [(batch, self._assignment.now())], unreadable
        return pieces, []

    def _current(self, pieces: list[Fetched]) -> tuple[Batch, int]:
        """One batch of the pieces' records that came after their partitions' last
        seek, and how many were left out."""
        batch: Batch = {}
        stale = 0
        for piece, fetched_at in pieces:
            kept, left_out = self._assignment.current(piece, fetched_at)
            stale += left_out
            for tp, records in kept.items():
                batch[tp] = batch[tp] + records if tp in batch else records
        return batch, stale

    async def _skip(self, unreadable: list[Record], fetched_at: int) -> None:
        """Dead-letter the unreadable records of live partitions, and go past them."""
        batch: Batch = {}
        for record in unreadable:
            batch.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
        batch, _ = self._assignment.current(batch, fetched_at)
        warm_until = self._assignment.warm_until  # before it: the old owner dead-lettered it
        live = [r for tp, rs in batch.items() for r in rs if r.offset >= warm_until.get(tp, -1)]
        self._metrics.records_unreadable.inc(sum(map(len, batch.values())))
        if live:
            effects = await self._effects.unreadable(live)
            await self._settler.submit(effects)
        if self._assignment.processed(batch) and not self.warming_up:
            self._warmed_up()

    async def _handle(self, batch: Batch) -> None:
        self._metrics.batch_records.observe(sum(len(rs) for rs in batch.values()))
        with self._metrics.batch_seconds.time():
            warm, live = self._assignment.split(batch)
            if warm:
                await self._effects.warm_up(warm, self._assignment.unfloored)
            if live:
                effects = await self._effects.live(live, self._assignment.unfloored)
                await self._settler.submit(effects)  # settles after the batches before
            if self._assignment.processed(batch) and not self.warming_up:
                self._warmed_up()

    async def _close_idle(self, batch: Batch) -> None:
        """Wall-clock quiet close, only for partitions that had nothing in this fetch
        and are caught up (bars of busy partitions close by event time, store.py)."""
        idle = [
            tp.partition
            for tp in self.assigned - set(batch)
            if tp not in self._assignment.warm_until
            and self._assignment.next_offsets.get(tp, -1) >= (self._consumer.highwater(tp) or 0)
        ]
        if idle:
            await self._effects.close_idle(idle, time.time_ns() - self._quiet_close_ns)

    def _warmed_up(self) -> None:
        elapsed = time.monotonic() - self._recovery_started
        self._metrics.recovery_seconds.observe(elapsed)
        log.info("warm-up done in %.3fs", elapsed)

    def _update_lag(self) -> None:
        now_ms = time.time() * 1000
        for tp in self.assigned:
            high = self._consumer.highwater(tp)
            position = self._assignment.next_offsets.get(tp)
            if high is None or position is None:
                continue
            behind = max(0, high - position)
            label = str(tp.partition)
            self._metrics.consumer_lag.labels(label).set(behind)
            last_ms = self._assignment.last_timestamp_ms.get(tp, now_ms)
            seconds = max(0.0, now_ms - last_ms) / 1000 if behind else 0.0
            self._metrics.consumer_lag_seconds.labels(label).set(seconds)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure
        self._settler.raise_failure()

    def _fail(self, failure: MemberFailed) -> None:
        log.error("%s", failure)
        self._failure = self._failure or failure

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._lock:  # the batch in flight finishes first
            try:
                await self._settler.settled()
            except Exception as exc:
                why = f"stopping: a batch did not settle before a rebalance: {exc}"
                self._fail(MemberFailed(why))
            finally:
                self._drop(revoked)

    def _drop(self, revoked: list[TopicPartition]) -> None:
        self._metrics.rebalances.inc()
        gone = {tp.partition for tp in revoked}
        self._on_revoked(set(self._effects.store.drop_partitions(gone)))
        self._assignment.forget(revoked)
        self._settler.forget(revoked)
        for tp in revoked:
            for gauge in (self._metrics.consumer_lag, self._metrics.consumer_lag_seconds):
                with contextlib.suppress(KeyError):
                    gauge.remove(str(tp.partition))
        log.info("partitions revoked: %s", sorted(gone))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        try:
            async with self._lock:
                self._recovery_started = time.monotonic()
                plans = await self._planner.plans(assigned)
                for tp, plan in plans.items():
                    self._start(tp, plan)
        except Exception as exc:
            parts = sorted(tp.partition for tp in assigned)
            self._fail(MemberFailed(f"stopping: could not start partitions {parts}: {exc!r}"))
            return
        if not self.warming_up:
            self._metrics.recovery_seconds.observe(time.monotonic() - self._recovery_started)
        log.info(
            "partitions assigned: %s; replaying %d records",
            sorted(tp.partition for tp in assigned),
            sum(p.live_from - p.seek for p in plans.values()),
        )

    def _start(self, tp: TopicPartition, plan: Plan) -> None:
        self._consumer.seek(tp, plan.seek)
        self._assignment.start(tp, plan)
        if plan.reset:
            self._metrics.offset_resets.labels(str(tp.partition), plan.reset).inc()
