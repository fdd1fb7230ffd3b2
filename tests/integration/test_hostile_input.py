"""Hostile records on the real broker: the member dead-letters them and keeps going."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from tests.integration import streams
from tests.integration.conftest import read_all, scrape, wait_for
from tests.oracle import assert_bars_equal, offline_bars
from ticksmith.app import PRODUCER_MAX_REQUEST_BYTES
from ticksmith.config import KafkaSettings, Settings
from ticksmith.produce.market import Market, symbol_names
from ticksmith.produce.writer import encode_chunk

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]
SettingsFactory = Callable[..., Awaitable[Settings]]
BIG_TOPIC_BYTES = 3 * 1024 * 1024


async def _roomy_ticks_topic(admin: AIOKafkaAdminClient, settings: Settings) -> Settings:
    """The settings with a ticks topic that takes records over 1 MiB, as a topic
    configured with a larger max.message.bytes would."""
    name = settings.kafka.ticks_topic + "-big"
    config = {"max.message.bytes": str(BIG_TOPIC_BYTES)}
    await admin.create_topics([NewTopic(name, 1, replication_factor=1, topic_configs=config)])
    kafka: KafkaSettings = settings.kafka.model_copy(update={"ticks_topic": name})
    return settings.model_copy(update={"kafka": kafka})


async def test_junk_near_and_over_the_record_limit_is_cut_to_fit_and_the_member_goes_on(
    settings_factory: SettingsFactory, admin: AIOKafkaAdminClient
) -> None:
    """Issue 11, finding 4: a 1,048,301-byte junk value (under max_record_bytes) made a
    dead letter over the producer's limit, and the member crash-looped on it."""
    settings = await _roomy_ticks_topic(admin, await settings_factory(partitions=1))
    k = settings.kafka
    limit = settings.ingest.max_record_bytes
    ticks = Market(symbol_names(1), seed=11, start_ns=time.time_ns(), spacing_ns=20_000_000)
    ticks = ticks.chunk(300)
    good = encode_chunk(ticks)
    under = b"{" + b"x" * (1_048_301 - 1)  # not JSON, just under the limit
    over = b"\x01" + bytes(limit + 500_000)  # over the limit
    trace = [("trace-id", b"t" * 200)]
    producer = AIOKafkaProducer(
        bootstrap_servers=k.bootstrap_servers, max_request_size=BIG_TOPIC_BYTES
    )
    await producer.start()
    try:
        for key, value in good[:100]:
            await producer.send(k.ticks_topic, value=value, key=key)
        await producer.send(k.ticks_topic, value=under, key=b"SYM0000", headers=trace)
        for key, value in good[100:200]:
            await producer.send(k.ticks_topic, value=value, key=key)
        await producer.send(k.ticks_topic, value=over, key=b"SYM0000", headers=trace)
        for key, value in good[200:]:
            await producer.send(k.ticks_topic, value=value, key=key)
        await producer.flush()
    finally:
        await producer.stop()
    expected = offline_bars(ticks, 1_000_000_000)
    assert len(expected) >= 4

    async with streams.running(settings) as service:
        await wait_for(lambda: streams.caught_up(admin, settings), "offsets committed to the end")
        metrics = await scrape(service.http_port)

    letters = await read_all(k.bootstrap_servers, k.dead_letter_topic, 2)
    assert len(letters) == 2
    for letter, original, reason in zip(
        letters, (under, over), ("invalid_json", "too_large"), strict=True
    ):
        headers = dict(letter.headers)
        assert headers["ticksmith.reason"] == reason.encode()
        assert headers["ticksmith.original.value_bytes"] == str(len(original)).encode()
        assert headers["trace-id"] == trace[0][1]
        assert letter.key == b"SYM0000"
        assert original.startswith(letter.value)
        assert len(letter.value) > limit - 4096  # cut only as much as needed
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(
            letter.key, letter.value, list(letter.headers)
        )
        assert size <= PRODUCER_MAX_REQUEST_BYTES
    published = await read_all(k.bootstrap_servers, k.output_topic, len(expected))
    bars, duplicates = streams.published(published)
    assert_bars_equal(bars.loc[1_000], expected)
    assert duplicates == 0
    assert metrics["ticksmith_ticks_consumed_total"] == len(ticks)
    assert metrics["ticksmith_dead_letters_total"] == 2
