"""Hostile records on the real broker: the member dead-letters them and keeps going."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pandas as pd
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.record.default_records import (
    DefaultRecordBatchBuilder,
    _DefaultRecordBatchBuilderPy,
)

from tests.integration import streams
from tests.integration.conftest import read_all, scrape, wait_for
from tests.oracle import assert_bars_equal, offline_bars
from ticksmith.config import Settings
from ticksmith.kafka.clients import PRODUCER_MAX_REQUEST_BYTES
from ticksmith.kafka.settings import KafkaSettings
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


class _NotUtf8(str):
    """A header key whose encoding is bytes that are not UTF-8."""

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return b"\xff\xfe"


async def _send_unparseable(producer: AIOKafkaProducer, topic: str, partition: int) -> int:
    """A record aiokafka's consumer cannot parse (its header key is not UTF-8), as
    other Kafka clients can write it; returns its offset."""
    batch = producer.create_batch()
    batch._builder = _DefaultRecordBatchBuilderPy(2, 0, 0, -1, -1, 0, 16_384)  # encodes in Python
    batch.append(key=b"X", value=b"junk", timestamp=None, headers=[(_NotUtf8("k"), b"v")])
    meta = await (await producer.send_batch(batch, topic, partition=partition))
    return int(meta.offset)


async def test_a_record_the_client_cannot_parse_is_dead_lettered_by_position_and_skipped(
    settings_factory: SettingsFactory, producer: AIOKafkaProducer, admin: AIOKafkaAdminClient
) -> None:
    settings = await settings_factory(partitions=2)
    k = settings.kafka
    market = Market(symbol_names(12), seed=21, spacing_ns=3_000_000)
    sent = [await streams.send_tracked(producer, k.ticks_topic, market.chunk(1_500))]
    bad = [await _send_unparseable(producer, k.ticks_topic, p) for p in (0, 1, 1)]
    empty = producer.create_batch()  # neither key nor value, which other clients can write
    empty.append(key=None, value=None, timestamp=None)
    await (await producer.send_batch(empty, k.ticks_topic, partition=0))
    async with streams.running(settings) as service:
        for _ in range(3):  # ticks keep coming after the bad records
            sent.append(await streams.send_tracked(producer, k.ticks_topic, market.chunk(1_000)))
        await wait_for(lambda: streams.caught_up(admin, settings), "commits past the bad records")
        metrics = await scrape(service.http_port)
    ticks = pd.concat(sent, ignore_index=True)
    expected = offline_bars(ticks, 1_000_000_000)
    bars, _ = streams.published(await read_all(k.bootstrap_servers, k.output_topic, len(expected)))
    assert_bars_equal(bars.loc[1_000], expected)
    letters = await read_all(k.bootstrap_servers, k.dead_letter_topic, 4)
    assert {r.value for r in letters} == {b""}  # stand-ins, and the empty record as b""
    headers = [dict(r.headers) for r in letters if b"unreadable" in dict(r.headers).values()]
    where = sorted(
        (int(h["ticksmith.source.partition"]), int(h["ticksmith.source.offset"])) for h in headers
    )
    assert where == sorted(zip((0, 1, 1), bad, strict=True))
    assert all(h["ticksmith.reason"] == b"unreadable" for h in headers)
    assert metrics["ticksmith_records_unreadable_total"] == 3
    assert metrics["ticksmith_ticks_consumed_total"] == len(ticks)
