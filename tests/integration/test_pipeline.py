"""The walking skeleton end to end on the real broker: ticks in, bars out, offsets committed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
import msgspec
import numpy as np
import pandas as pd
import pytest
import talib
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry

from tests.integration.conftest import (
    committed_offsets,
    end_offsets,
    read_all,
    scrape,
    wait_for,
)
from tests.oracle import assert_bars_equal, offline_bars
from ticksmith import output
from ticksmith.app import Service, lifespan
from ticksmith.config import Settings
from ticksmith.produce.market import Market, symbol_names
from ticksmith.produce.writer import encode_chunk, send_all

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]
SettingsFactory = Callable[..., Awaitable[Settings]]


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Service]:
    stop = asyncio.Event()
    async with lifespan(settings, CollectorRegistry()) as service:
        task = asyncio.create_task(service.ingestor.run(stop))
        try:
            yield service
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


async def caught_up(admin: AIOKafkaAdminClient, settings: Settings) -> bool:
    k = settings.kafka
    ends = await end_offsets(k.bootstrap_servers, k.ticks_topic, k.topic_partitions)
    committed = await committed_offsets(admin, k.group_id)
    return committed == {p: end for p, end in ends.items() if end > 0}


def output_frame(records: list[ConsumerRecord[bytes, bytes]]) -> pd.DataFrame:
    """Published bar records as a frame indexed like the oracle's, in (symbol, start) order."""
    rows = [msgspec.structs.asdict(output.decode(r.value)) for r in records]
    frame = pd.DataFrame(rows).set_index(["symbol", "start_ns"]).sort_index()
    frame["vwap"] = frame["vwap"].astype(float)
    return frame


def store_bars(service: Service) -> pd.DataFrame:
    frames = {s: service.store.bars_frame(s) for s in service.store.symbols()}
    out = pd.concat(frames, names=["symbol", "start"])
    starts = out.index.get_level_values("start").as_unit("ns").asi8
    out.index = pd.MultiIndex.from_arrays(
        [out.index.get_level_values("symbol"), starts], names=["symbol", "start_ns"]
    )
    return out


async def test_known_ticks_for_60_symbols_become_exactly_the_offline_bars(
    settings_factory: SettingsFactory, producer: AIOKafkaProducer, admin: AIOKafkaAdminClient
) -> None:
    settings = await settings_factory(partitions=4)
    k = settings.kafka
    ticks = Market(symbol_names(60), seed=7, spacing_ns=2_000_000).chunk(30_000)
    await send_all(producer, settings.kafka.ticks_topic, encode_chunk(ticks))
    expected = offline_bars(ticks, settings.bars.interval_ms * 1_000_000)
    assert len(expected) > 60 * 20

    async with running(settings) as service:
        await wait_for(lambda: caught_up(admin, settings), "offsets committed to the end")
        metrics = await scrape(service.http_port)
        assert_bars_equal(store_bars(service).loc[expected.index], expected)
        assert len(store_bars(service)) == len(expected)

    published = await read_all(k.bootstrap_servers, k.output_topic, len(expected))
    assert_bars_equal(output_frame(published), expected)
    assert all(r.key == output.decode(r.value).symbol.encode() for r in published)
    assert metrics["ticksmith_ticks_consumed_total"] == len(ticks)
    assert metrics["ticksmith_records_consumed_total"] == len(ticks)
    assert metrics["ticksmith_bars_closed_total"] == len(expected)
    assert metrics["ticksmith_output_records_total"] == len(expected)
    assert metrics.get("ticksmith_dead_letters_total", 0) == 0
    assert metrics["ticksmith_consumer_lag_messages"] == 0
    assert metrics["ticksmith_store_symbols"] == 60


async def test_indicators_are_read_through_the_cache_over_http(
    settings_factory: SettingsFactory, producer: AIOKafkaProducer, admin: AIOKafkaAdminClient
) -> None:
    settings = await settings_factory(partitions=2)
    ticks = Market(symbol_names(3), seed=3, spacing_ns=20_000_000).chunk(6_000)
    await send_all(producer, settings.kafka.ticks_topic, encode_chunk(ticks))
    expected = offline_bars(ticks, settings.bars.interval_ms * 1_000_000).loc["SYM0001"]

    async with running(settings) as service:
        await wait_for(lambda: caught_up(admin, settings), "offsets committed to the end")
        base = f"http://127.0.0.1:{service.http_port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/v1/symbols/SYM0001/indicators?limit=100000") as r:
                assert r.status == 200
                rows = pd.DataFrame((await r.json())["rows"])
            async with http.get(f"{base}/v1/symbols/NOPE/indicators") as r:
                assert r.status == 404
            async with http.get(f"{base}/v1/symbols/SYM0001/indicators?limit=x") as r:
                assert r.status == 400
        metrics = await scrape(service.http_port)

    np.testing.assert_array_equal(rows["close"], expected["close"])
    sma = rows["sma_20"].astype(float).to_numpy()
    np.testing.assert_allclose(sma, talib.SMA(expected["close"].to_numpy(), 20), rtol=1e-9)
    assert metrics["ticksmith_cache_recomputes_total"] == 1
    assert metrics["ticksmith_cache_entries"] == 1


async def test_bad_records_go_to_the_dead_letter_topic_and_good_ones_are_kept(
    settings_factory: SettingsFactory, producer: AIOKafkaProducer, admin: AIOKafkaAdminClient
) -> None:
    settings = await settings_factory(partitions=1)
    ticks = Market(symbol_names(2), seed=5).chunk(200)
    good = encode_chunk(ticks)
    bad = [
        (b"SYM0000", b"{not json"),
        (b"SYM0000", b'{"symbol":"SYM0000","ts":1732459200000000000,"price":1.0,"size":1}'),
        (b"SYM0000", good[0][1].replace(b'"price":', b'"price":-')),
        (b"SYM0001", good[0][1]),  # key disagrees with the symbol
    ]
    await send_all(producer, settings.kafka.ticks_topic, good[:100] + bad + good[100:])

    async with running(settings) as service:
        await wait_for(lambda: caught_up(admin, settings), "offsets committed to the end")
        metrics = await scrape(service.http_port)

    letters = await read_all(settings.kafka.bootstrap_servers, settings.kafka.dead_letter_topic, 4)
    reasons = [dict(r.headers)["ticksmith.reason"].decode() for r in letters]
    assert reasons == ["invalid_json", "schema", "bad_price", "key_mismatch"]
    assert [r.value for r in letters] == [v for _, v in bad]
    assert all(
        dict(r.headers)["ticksmith.source.topic"] == settings.kafka.ticks_topic.encode()
        for r in letters
    )
    assert metrics["ticksmith_ticks_consumed_total"] == len(ticks)
    assert metrics["ticksmith_dead_letters_total"] == 4
