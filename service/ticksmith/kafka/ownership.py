"""Which group member owns a symbol: Kafka's default partitioner over the symbol
key, then the group's current assignment.

The assignment comes from the group coordinator (``describe_consumer_groups``),
which every request for a symbol held elsewhere would otherwise ask. So one
describe runs at a time and every caller waiting shares its answer; the answer
is kept for ``ttl_ms``, and dropped at once when this member's own assignment
changes (a rebalance). A describe that fails or times out is kept for
``ttl_ms`` too, as "owner unknown", so a coordinator in trouble is asked once
per ``ttl_ms`` however many requests arrive.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.partitioner import murmur2

from ticksmith.metrics import Metrics

log = logging.getLogger(__name__)


def partition_of(symbol: str, partitions: int) -> int:
    """The partition the default (murmur2) partitioner puts this key in, as producers do."""
    return int(murmur2(symbol.encode()) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True, slots=True)
class Member:
    client_id: str
    host: str


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """The group's assignment as described at `taken` (monotonic seconds)."""

    holders: dict[int, Member]
    taken: float
    mine: frozenset[TopicPartition]


class Ownership:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        admin: AIOKafkaAdminClient,
        group: str,
        topic: str,
        metrics: Metrics,
        ttl_ms: int = 5_000,
        timeout_ms: int = 2_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer, self._admin = consumer, admin
        self._group, self._topic, self._metrics = group, topic, metrics
        self._ttl_s, self._timeout_s, self._clock = ttl_ms / 1000, timeout_ms / 1000, clock
        self._snapshot: _Snapshot | None = None
        self._pending: asyncio.Future[_Snapshot] | None = None

    async def owner(self, symbol: str) -> dict[str, Any] | None:
        """The member that holds the symbol's partition: partition, client id and host."""
        partitions = self._consumer.partitions_for_topic(self._topic)
        if not partitions:
            return None
        partition = partition_of(symbol, len(partitions))
        held = (await self._holders()).get(partition)
        client_id, host = (held.client_id, held.host) if held else (None, None)
        return {"partition": partition, "client_id": client_id, "host": host}

    async def _holders(self) -> dict[int, Member]:
        snapshot = self._snapshot
        if snapshot is not None and self._fresh(snapshot):
            return snapshot.holders
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._describe())
        pending = self._pending
        # shielded: a client that goes away must not cancel the describe others wait on
        return (await asyncio.shield(pending)).holders

    def _fresh(self, snapshot: _Snapshot) -> bool:
        young = self._clock() - snapshot.taken < self._ttl_s
        return young and snapshot.mine == frozenset(self._consumer.assignment())

    async def _describe(self) -> _Snapshot:
        mine, taken = frozenset(self._consumer.assignment()), self._clock()
        try:
            members = await asyncio.wait_for(self._members(), self._timeout_s)
            holders, result = _holders_of(members, self._topic), "ok"
        except Exception as exc:  # the 404 still answers, without an owner
            log.warning("group %s: describe for a symbol's owner failed: %r", self._group, exc)
            holders, result = {}, "error"
        finally:
            self._pending = None
        self._metrics.owner_describes.labels(result).inc()
        self._snapshot = _Snapshot(holders, taken, mine)
        return self._snapshot

    async def _members(self) -> list[dict[str, Any]]:
        responses = await self._admin.describe_consumer_groups([self._group])
        groups = responses[0].to_object()["groups"] if responses else []
        return [m for g in groups for m in g["members"] if m["member_assignment"]]


def _holders_of(members: list[dict[str, Any]], topic: str) -> dict[int, Member]:
    holders: dict[int, Member] = {}
    for member in members:
        assignment = ConsumerProtocolMemberAssignment.decode(member["member_assignment"])
        held = Member(member["client_id"], member["client_host"].lstrip("/"))
        holders.update(dict.fromkeys(dict(assignment.assignment).get(topic, []), held))
    return holders
