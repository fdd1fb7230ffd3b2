"""The group member with fake clients: nothing fetched before an assignment's seek is
processed; a failing listener or settle stops the member; a revocation drops the
partitions' state even after a failed settle."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from prometheus_client import CollectorRegistry

from ticksmith.metrics import Metrics
from ticksmith.pipeline import member as member_module
from ticksmith.pipeline.batch import BatchEffects
from ticksmith.pipeline.member import FetchSettings, GroupMember, MemberFailed
from ticksmith.pipeline.replay import ReplayPlanner
from ticksmith.pipeline.settle import Effects, Settler

pytestmark = pytest.mark.timeout(10)
TP = TopicPartition("ticks", 0)


@dataclass
class Rec:
    offset: int
    timestamp: int = 0
    partition: int = 0
    topic: str = TP.topic


def records(lo: int, hi: int) -> list[Rec]:
    return [Rec(o) for o in range(lo, hi)]


@dataclass
class FakeConsumer:
    """A scripted consumer: each getmany() runs the next step of `script`."""

    script: list[Callable[[], Any]]
    committed_offset: int | None = 100
    seeks: list[tuple[int, int]] = field(default_factory=list)
    commits: list[int] = field(default_factory=list)
    plan_gate: asyncio.Event = field(default_factory=asyncio.Event)
    asked: list[int] = field(default_factory=list)  # max_records of each getmany()

    async def getmany(self, timeout_ms: int, max_records: int) -> Any:
        self.asked.append(max_records)
        if not self.script:
            await asyncio.sleep(0.001)
            return {}
        out = self.script.pop(0)()
        return await out if asyncio.iscoroutine(out) else out

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp.partition, offset))

    async def committed(self, tp: TopicPartition) -> int | None:
        await self.plan_gate.wait()
        return self.committed_offset

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, 0)

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, 1_000)

    def highwater(self, tp: TopicPartition) -> int:
        return 1_000

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets[TP])


@dataclass
class FakeStore:
    dropped: list[set[int]] = field(default_factory=list)

    def drop_partitions(self, partitions: set[int]) -> list[str]:
        self.dropped.append(set(partitions))
        return [f"S{p}" for p in partitions]


@dataclass
class FakeEffects:
    """Records which offsets went through warm-up and live."""

    store: FakeStore = field(default_factory=FakeStore)
    warm: list[int] = field(default_factory=list)
    live_offsets: list[int] = field(default_factory=list)
    outputs: Callable[[], asyncio.Future[None]] | None = None
    dead: list[int] = field(default_factory=list)

    async def warm_up(self, recs: list[Rec], floors: set[TopicPartition]) -> None:
        self.warm += [r.offset for r in recs]

    async def unreadable(self, recs: list[Rec]) -> Effects:
        self.dead += [r.offset for r in recs]
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return Effects(done, done, {TP: recs[-1].offset + 1})

    async def live(self, batch: dict[TopicPartition, list[Rec]], floors: Any) -> Effects:
        self.live_offsets += [r.offset for rs in batch.values() for r in rs]
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        outputs = self.outputs() if self.outputs else done
        return Effects(outputs, done, {tp: rs[-1].offset + 1 for tp, rs in batch.items()})


def member(consumer: FakeConsumer, effects: FakeEffects, forgotten: list[set[str]]) -> GroupMember:
    metrics = Metrics(CollectorRegistry())
    return GroupMember(
        consumer,
        cast(BatchEffects, effects),
        ReplayPlanner(consumer, "earliest", 50, 0),
        Settler(consumer, metrics, commit_interval_ms=0),
        metrics,
        fetch=FetchSettings(100, 1),
        on_revoked=forgotten.append,
    )


async def nothing_after(listener: Any) -> dict[TopicPartition, list[Rec]]:
    await listener
    return {}


async def run_until(m: GroupMember, done: Callable[[], bool]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(m.run(stop))
    while not done() and not task.done():
        await asyncio.sleep(0.001)
    stop.set()
    await task


async def test_records_fetched_before_the_listener_ran_are_never_processed() -> None:
    effects = FakeEffects()
    consumer = FakeConsumer(script=[])
    m = member(consumer, effects, [])
    consumer.plan_gate.set()
    consumer.script = [
        lambda: {TP: records(100, 110)},  # aiokafka fetched from the committed offset
        lambda: nothing_after(m.on_partitions_assigned({TP})),  # the listener seeks to 50
        lambda: {TP: records(50, 110)},
    ]
    await run_until(m, lambda: consumer.commits == [110])
    assert consumer.seeks == [(0, 50)]
    assert effects.warm == list(range(50, 100))
    assert effects.live_offsets == list(range(100, 110))  # once each, none from the stale fetch
    assert m._metrics.records_refetched._value.get() == 10


async def test_a_fetch_is_parsed_in_pieces_and_a_seek_between_them_drops_only_those_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(member_module, "PARSE_RECORDS", 10)
    effects = FakeEffects()
    consumer = FakeConsumer(script=[])
    m = member(consumer, effects, [])  # fetch_max_records 100
    consumer.plan_gate.set()
    consumer.script = [
        lambda: {TP: records(100, 110)},  # a full piece: the fetch goes on
        lambda: nothing_after(m.on_partitions_assigned({TP})),  # seeks to 50 between pieces
        *[lambda lo=lo: {TP: records(lo, lo + 10)} for lo in range(50, 110, 10)],
    ]
    await run_until(m, lambda: consumer.commits == [110])
    assert max(consumer.asked) == 10
    assert effects.warm == list(range(50, 100))
    assert effects.live_offsets == list(range(100, 110))
    assert m._metrics.records_refetched._value.get() == 10  # the piece before the seek
    (histogram,) = m._metrics.batch_records.collect()
    batches = histogram.samples
    count = next(s.value for s in batches if s.name.endswith("_count"))
    assert count == 1  # six pieces, one batch


async def test_records_returned_while_the_listener_held_the_lock_are_never_processed() -> None:
    effects = FakeEffects()
    consumer = FakeConsumer(script=[])
    m = member(consumer, effects, [])

    listeners: list[asyncio.Task[None]] = []

    async def stale_while_planning() -> dict[TopicPartition, list[Rec]]:
        listeners.append(asyncio.create_task(m.on_partitions_assigned({TP})))
        await asyncio.sleep(0.01)  # the listener now holds the lock, waiting on the broker
        asyncio.get_running_loop().call_later(0.01, consumer.plan_gate.set)
        return {TP: records(100, 110)}  # returned before the seek, handled after it

    consumer.script = [stale_while_planning, lambda: {TP: records(50, 110)}]
    await run_until(m, lambda: consumer.commits == [110])
    await listeners[0]
    assert effects.warm == list(range(50, 100))
    assert effects.live_offsets == list(range(100, 110))


async def test_a_failing_assignment_listener_stops_the_member_with_a_clear_message() -> None:
    consumer = FakeConsumer(script=[])
    m = member(consumer, FakeEffects(), [])

    async def broken(tp: TopicPartition) -> int:
        raise KafkaConnectionError("coordinator unreachable")

    consumer.committed = broken  # type: ignore[method-assign]
    await m.on_partitions_assigned({TP})  # aiokafka would swallow an exception here
    with pytest.raises(MemberFailed, match=r"could not start partitions \[0\].*unreachable"):
        await m.run(asyncio.Event())


async def test_a_revocation_after_a_failed_settle_drops_the_state_and_stops_the_member() -> None:
    forgotten: list[set[str]] = []
    effects = FakeEffects()
    consumer = FakeConsumer(script=[])
    m = member(consumer, effects, forgotten)
    consumer.plan_gate.set()

    def failing() -> asyncio.Future[None]:
        future = asyncio.get_running_loop().create_future()
        future.set_exception(KafkaTimeoutError())
        return future

    effects.outputs = failing
    await m.on_partitions_assigned({TP})
    consumer.script = [lambda: {TP: records(50, 110)}]
    stop = asyncio.Event()
    task = asyncio.create_task(m.run(stop))
    while not effects.live_offsets:
        await asyncio.sleep(0.001)
    await m.on_partitions_revoked([TP])  # the settle failed: aiokafka would swallow a raise
    assert effects.store.dropped == [{0}] and forgotten == [{"S0"}]
    assert m.assigned == set()
    with pytest.raises(MemberFailed, match="did not settle before a rebalance"):
        await task
    assert consumer.commits == []


async def test_an_unreadable_record_is_dead_lettered_only_past_the_partitions_replay() -> None:
    effects = FakeEffects()
    consumer = FakeConsumer(script=[])
    m = member(consumer, effects, [])
    consumer.plan_gate.set()
    await m.on_partitions_assigned({TP})  # replays 50..99, live from 100
    stand_ins = [Rec(70, timestamp=-1), Rec(120, timestamp=-1)]
    await m._skip(stand_ins, m._assignment.now())
    await m._settler.settled()
    assert effects.dead == [120]  # 70 was the previous owner's to dead-letter
    assert consumer.commits == [121]
