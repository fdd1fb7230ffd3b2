"""Create the topics ticksmith reads and writes, if they do not exist yet."""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from ticksmith.errors import MissingTopic
from ticksmith.kafka.clients import admin_client
from ticksmith.kafka.diagnose import start_client
from ticksmith.kafka.settings import KafkaSettings


async def ensure_topics(
    kafka: KafkaSettings, partitions: int | None = None, timeout_s: float = 60
) -> None:
    admin = admin_client(kafka)
    await _start(admin, kafka, timeout_s)
    try:
        existing = set(await admin.list_topics())
        wanted = [kafka.ticks_topic, kafka.dead_letter_topic, kafka.output_topic]
        new = [
            NewTopic(name, partitions or kafka.topic_partitions, kafka.topic_replication_factor)
            for name in wanted
            if name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
    finally:
        await admin.close()


async def _start(admin: AIOKafkaAdminClient, kafka: KafkaSettings, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await start_client(admin, kafka.bootstrap_servers, kafka.security)
            return
        except KafkaConnectionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def missing_topic(setting: str, topic: str, bootstrap_servers: str) -> MissingTopic:
    """The error for a configured topic the cluster does not have, naming the setting."""
    return MissingTopic(
        f"kafka.{setting}: topic {topic!r} does not exist on {bootstrap_servers};"
        " create it (`ticksmith topics`) or fix the setting"
    )
