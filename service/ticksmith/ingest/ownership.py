"""Which group member owns a symbol: Kafka's default partitioner over the symbol
key, then the group's current assignment."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.partitioner import murmur2


def partition_of(symbol: str, partitions: int) -> int:
    """The partition the default (murmur2) partitioner puts this key in, as producers do."""
    return int(murmur2(symbol.encode()) & 0x7FFFFFFF) % partitions


class Ownership:
    def __init__(
        self, consumer: AIOKafkaConsumer, admin: AIOKafkaAdminClient, group: str, topic: str
    ) -> None:
        self._consumer = consumer
        self._admin = admin
        self._group = group
        self._topic = topic

    async def owner(self, symbol: str) -> dict[str, Any] | None:
        """The member that holds the symbol's partition: partition, client id and host."""
        partitions = self._consumer.partitions_for_topic(self._topic)
        if not partitions:
            return None
        partition = partition_of(symbol, len(partitions))
        for member in await self._members():
            assignment = ConsumerProtocolMemberAssignment.decode(member["member_assignment"])
            if partition in dict(assignment.assignment).get(self._topic, []):
                return {
                    "partition": partition,
                    "client_id": member["client_id"],
                    "host": member["client_host"].lstrip("/"),
                }
        return {"partition": partition, "client_id": None, "host": None}

    async def _members(self) -> list[dict[str, Any]]:
        responses = await self._admin.describe_consumer_groups([self._group])
        groups = responses[0].to_object()["groups"] if responses else []
        return [m for g in groups for m in g["members"] if m["member_assignment"]]
