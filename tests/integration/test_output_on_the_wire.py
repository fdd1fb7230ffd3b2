"""A step's output records reach the broker before the next step runs.

aiokafka's sender writes a batch to the socket some loop iterations after
``send_batch()``; a step of store and indicator work does not yield, so without
giving the loop those iterations, the records of one step (and the bars they
close, as the broker's append time dates them) waited for the whole next step.
Checked here as an order of events, not a speed: the broker's append time of the
records against the end of a step that holds the loop for 300 ms.
"""

from __future__ import annotations

import time
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from bench._broker import has_leaders

from tests.integration.conftest import wait_for
from ticksmith.pipeline.batch import let_the_sender_write

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(60)]
STEP_S = 0.3


async def append_after_step_ms(producer: AIOKafkaProducer, topic: str, yielded: bool) -> float:
    """Send a batch, maybe let the sender write, hold the loop STEP_S; the broker's
    append time of the batch minus the end of that step."""
    batch = producer.create_batch()
    for _ in range(200):
        batch.append(key=b"SYM", value=b"x" * 500, timestamp=None)
    acked = await producer.send_batch(batch, topic, partition=0)
    if yielded:
        await let_the_sender_write()
    step_end = time.monotonic() + STEP_S
    while time.monotonic() < step_end:  # store and indicator work: no await
        pass
    step_end_ms = time.time() * 1000
    return float((await acked).timestamp) - step_end_ms


async def test_a_steps_records_are_appended_while_the_next_step_runs(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient
) -> None:
    topic = f"wire-{uuid.uuid4().hex[:10]}"
    log_append = {"message.timestamp.type": "LogAppendTime"}
    await admin.create_topics([NewTopic(topic, 1, 1, topic_configs=log_append)])
    await wait_for(lambda: has_leaders(admin, topic, 1), what=f"topic {topic}")
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=0
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"warm", partition=0)
        # yielded: appended during the step, well before its end
        assert await append_after_step_ms(producer, topic, yielded=True) < -STEP_S * 1000 / 2
        # the mechanism: without the iterations the broker sees them after the step (its
        # append time is in whole milliseconds, rounded down: up to 1 ms early)
        assert await append_after_step_ms(producer, topic, yielded=False) > -1
    finally:
        await producer.stop()
