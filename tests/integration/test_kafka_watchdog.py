"""The metadata watchdog against the real broker: an aiokafka client whose metadata
task died answers no metadata update ever again (the hang of issue 11); with the
watchdog the same pending update is answered and the group member commits."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.integration.conftest import TopicFactory
from ticksmith.kafka.watchdog import connection, watch_metadata_tasks

pytestmark = [pytest.mark.kafka]


def kill_metadata_task(client: Any) -> None:
    """Make the metadata task die on its next round, as an uncaught error would."""
    inner = connection(client)

    async def broken(*_args: object) -> bool:
        raise RuntimeError("injected: metadata update failed")

    inner._metadata_update = broken


async def test_a_dead_metadata_task_is_started_again_and_the_member_commits(
    kafka_bootstrap: str, topic_factory: TopicFactory, caplog: pytest.LogCaptureFixture
) -> None:
    topic = await topic_factory("watchdog", 1)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=f"g-{topic}", enable_auto_commit=False
    )
    await consumer.start()
    revived: list[str] = []
    try:
        await consumer.getmany(timeout_ms=2000)  # joined: the partition is assigned
        assert consumer.assignment() == {TopicPartition(topic, 0)}
        inner = connection(consumer)
        kill_metadata_task(consumer)
        pending = inner.force_metadata_update()
        with pytest.raises(TimeoutError):  # without the watchdog: never answered
            await asyncio.wait_for(asyncio.shield(pending), 3)
        assert inner._sync_task.done() and isinstance(inner._sync_task.exception(), RuntimeError)
        del inner._metadata_update  # the class's own method again

        with caplog.at_level(logging.ERROR, logger="ticksmith.kafka.watchdog"):
            watchdog = asyncio.create_task(
                watch_metadata_tasks({"consumer": consumer}, revived.append, interval_s=0.1)
            )
            try:
                assert await asyncio.wait_for(pending, 10) is True
                await asyncio.wait_for(consumer.commit({TopicPartition(topic, 0): 0}), 10)
            finally:
                watchdog.cancel()
    finally:
        await consumer.stop()
    assert revived == ["consumer"]
    assert "consumer client's metadata task ended (RuntimeError(" in caplog.text
