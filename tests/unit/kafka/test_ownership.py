"""Owner look-ups with a fake group coordinator: one describe at a time, shared
by every waiting caller, kept for a TTL, dropped when the assignment changes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from prometheus_client import CollectorRegistry

from ticksmith.kafka.ownership import Ownership, partition_of
from ticksmith.metrics import Metrics

pytestmark = pytest.mark.timeout(30)
TOPIC, GROUP = "ticks", "g"


@dataclass
class Described:
    value: dict[str, Any]

    def to_object(self) -> dict[str, Any]:
        return self.value


@dataclass
class FakeAdmin:
    """A coordinator that answers when `gate` is set, or fails with `error`."""

    holders: dict[str, list[int]]
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    error: Exception | None = None
    calls: int = 0

    async def describe_consumer_groups(self, groups: list[str]) -> list[Described]:
        self.calls += 1
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return [Described({"groups": [{"members": [self._member(c) for c in self.holders]}]})]

    def _member(self, client_id: str) -> dict[str, Any]:
        assignment = ConsumerProtocolMemberAssignment(0, [(TOPIC, self.holders[client_id])], b"")
        return {
            "client_id": client_id,
            "client_host": f"/10.0.0.{len(client_id)}",
            "member_assignment": assignment.encode(),
        }


@dataclass
class FakeConsumer:
    mine: set[TopicPartition] = field(default_factory=lambda: {TopicPartition(TOPIC, 0)})

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0, 1}

    def assignment(self) -> set[TopicPartition]:
        return set(self.mine)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    ownership: Ownership
    admin: FakeAdmin
    consumer: FakeConsumer
    clock: Clock
    registry: CollectorRegistry

    def describes(self, result: str) -> float | None:
        name = "ticksmith_owner_describes_total"
        return self.registry.get_sample_value(name, {"result": result})


@pytest.fixture
def world() -> World:
    admin = FakeAdmin({"me": [0], "other": [1]})
    consumer, clock, registry = FakeConsumer(), Clock(), CollectorRegistry()
    ownership = Ownership(
        consumer,
        admin,
        GROUP,
        TOPIC,
        Metrics(registry),
        ttl_ms=5_000,
        timeout_ms=1_000,
        clock=clock,
    )
    return World(ownership, admin, consumer, clock, registry)


def held_elsewhere(n: int) -> list[str]:
    """`n` distinct symbols that hash to partition 1."""
    names = (f"X{i}" for i in range(10_000))
    return [s for s in names if partition_of(s, 2) == 1][:n]


async def test_concurrent_look_ups_share_one_describe(world: World) -> None:
    symbols = held_elsewhere(200)
    lookups = [asyncio.create_task(world.ownership.owner(s)) for s in symbols]
    await asyncio.sleep(0)  # every look-up is now waiting on the coordinator
    world.admin.gate.set()
    owners = await asyncio.gather(*lookups)
    assert world.admin.calls == 1
    assert {o["client_id"] for o in owners if o} == {"other"}
    assert owners[0] == {"partition": 1, "client_id": "other", "host": "10.0.0.5"}
    assert world.describes("ok") == 1


async def test_the_answer_is_kept_for_the_ttl_then_asked_again(world: World) -> None:
    world.admin.gate.set()
    for symbol in held_elsewhere(50):
        await world.ownership.owner(symbol)
    world.clock.now += 4.9
    await world.ownership.owner("X1")
    assert world.admin.calls == 1
    world.clock.now += 0.2
    await world.ownership.owner("X1")
    assert world.admin.calls == 2


async def test_a_rebalance_of_this_member_drops_the_answer(world: World) -> None:
    world.admin.gate.set()
    assert (await world.ownership.owner(held_elsewhere(1)[0]) or {})["client_id"] == "other"
    world.admin.holders = {"me": [0, 1]}
    world.consumer.mine = {TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)}
    assert (await world.ownership.owner(held_elsewhere(1)[0]) or {})["client_id"] == "me"
    assert world.admin.calls == 2


async def test_a_failing_coordinator_is_asked_once_per_ttl_and_names_no_owner(
    world: World,
) -> None:
    world.admin.error = ConnectionError("coordinator not available")
    world.admin.gate.set()
    owners = await asyncio.gather(*(world.ownership.owner(s) for s in held_elsewhere(100)))
    assert owners[0] == {"partition": 1, "client_id": None, "host": None}
    assert world.admin.calls == 1
    assert (world.describes("error"), world.describes("ok")) == (1, 0)


async def test_a_coordinator_that_does_not_answer_times_out(world: World) -> None:
    owner = await asyncio.wait_for(world.ownership.owner("X1"), 5)  # the gate is never set
    assert owner is not None and owner["client_id"] is None
    assert world.describes("error") == 1


async def test_a_caller_that_goes_away_does_not_cancel_the_shared_describe(world: World) -> None:
    first = asyncio.create_task(world.ownership.owner("X1"))
    second = asyncio.create_task(world.ownership.owner("X2"))
    await asyncio.sleep(0)
    first.cancel()
    world.admin.gate.set()
    assert (await second) is not None
    assert world.admin.calls == 1 and world.describes("ok") == 1
