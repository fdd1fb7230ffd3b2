"""The commit order, with fake clients: no commit before a batch's outputs and dead
letters are acknowledged; a failed acknowledgement means no commit, and the member stops."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, KafkaTimeoutError
from prometheus_client import CollectorRegistry

from ticksmith.monitor.metrics import Metrics
from ticksmith.pipeline.settle import Effects, SettleFailed, Settler

pytestmark = pytest.mark.timeout(10)
TP = TopicPartition("ticks", 0)


class FakeConsumer:
    """Records every commit, and what had been acknowledged when it was made."""

    def __init__(self, log: list[str], fail: BaseException | None = None) -> None:
        self.log = log
        self.fail = fail

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.fail is not None:
            raise self.fail
        self.log.append(f"commit {offsets[TP]}")


def acked(log: list[str], what: str) -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.add_done_callback(lambda _: log.append(what))
    return future


async def settle_one(
    log: list[str], consumer: FakeConsumer, offset: int = 10
) -> tuple[Settler, asyncio.Future[None], asyncio.Future[None]]:
    settler = Settler(consumer, Metrics(CollectorRegistry()))
    outputs, dead = acked(log, "outputs acked"), acked(log, "dead letters acked")
    settler.submit(Effects(outputs, dead, {TP: offset}))
    return settler, outputs, dead


async def test_the_commit_waits_for_outputs_and_dead_letters() -> None:
    log: list[str] = []
    settler, outputs, dead = await settle_one(log, FakeConsumer(log))
    await asyncio.sleep(0)
    dead.set_result(None)
    await asyncio.sleep(0)
    assert log == ["dead letters acked"]  # no commit yet: the outputs are not acknowledged
    outputs.set_result(None)
    await settler.settled()
    assert log == ["dead letters acked", "outputs acked", "commit 10"]
    assert settler.committed == {TP: 10}


@pytest.mark.parametrize("failing", ["outputs", "dead letters"])
async def test_a_failed_acknowledgement_means_no_commit_and_the_failure_is_raised(
    failing: str,
) -> None:
    log: list[str] = []
    settler, outputs, dead = await settle_one(log, FakeConsumer(log))
    for name, future in (("outputs", outputs), ("dead letters", dead)):
        if name == failing:
            future.set_exception(KafkaTimeoutError())
        else:
            future.set_result(None)
    with pytest.raises(SettleFailed, match=r"ticks\[0\]=10 were not committed"):
        await settler.settled()
    assert not any(line.startswith("commit") for line in log)
    assert settler.committed == {}


async def test_a_failure_is_seen_without_waiting_once_it_happened() -> None:
    log: list[str] = []
    settler, outputs, dead = await settle_one(log, FakeConsumer(log))
    settler.raise_failure()  # nothing failed yet: no wait, no error
    outputs.set_exception(KafkaTimeoutError())
    dead.set_result(None)
    await asyncio.sleep(0.01)
    with pytest.raises(SettleFailed):
        settler.raise_failure()


async def test_a_commit_refused_by_a_rebalance_is_not_a_failure_and_records_nothing() -> None:
    log: list[str] = []
    settler, outputs, dead = await settle_one(log, FakeConsumer(log, CommitFailedError()))
    outputs.set_result(None)
    dead.set_result(None)
    await settler.settled()
    assert settler.committed == {}


async def test_any_other_commit_error_stops_the_member() -> None:
    log: list[str] = []
    settler, outputs, dead = await settle_one(log, FakeConsumer(log, KafkaTimeoutError()))
    outputs.set_result(None)
    dead.set_result(None)
    with pytest.raises(SettleFailed, match="committing offsets"):
        await settler.settled()


async def test_batches_commit_in_order_one_in_flight() -> None:
    log: list[str] = []
    consumer = FakeConsumer(log)
    settler, outputs, dead = await settle_one(log, consumer, offset=10)
    with pytest.raises(AssertionError):
        settler.submit(Effects(outputs, dead, {TP: 20}))  # the first has not settled
    outputs.set_result(None)
    dead.set_result(None)
    await settler.settled()
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    settler.submit(Effects(done, done, {TP: 20}))
    await settler.settled()
    assert [line for line in log if line.startswith("commit")] == ["commit 10", "commit 20"]


async def test_latency_runs_from_the_records_kafka_timestamp_to_the_commit() -> None:
    log: list[str] = []
    registry = CollectorRegistry()
    settler = Settler(FakeConsumer(log), Metrics(registry))
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    written = time.time() - 2.0  # the oldest record was written two seconds ago
    settler.submit(Effects(done, done, {TP: 5}, written_s=written))
    await settler.settled()
    seconds = registry.get_sample_value("ticksmith_end_to_end_latency_seconds_sum")
    assert seconds is not None and 2.0 <= seconds < 3.0
