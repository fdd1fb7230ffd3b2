"""The indicator worker feeds the cache, through the real broker: what the API
serves is, bit for bit, what the output topic carries for the same bars, whether
the frame was held and fed while bars closed (and fell off bars.history_bars), or
built for the first time (or again after reclamation) long after the history was
cut, which rebuilds the recursive indicators from the worker's checkpoint."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

import aiohttp
import msgspec
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient

from tests.integration.conftest import read_all, scrape, wait_for
from tests.integration.streams import caught_up, running, send_tracked
from ticksmith import output
from ticksmith.config import BarSettings, CacheSettings, Settings
from ticksmith.produce.market import Market, symbol_names

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]
SettingsFactory = Callable[..., Awaitable[Settings]]
HISTORY = 40


async def served(port: int, symbol: str) -> list[dict[str, float | int | None]]:
    url = f"http://127.0.0.1:{port}/v1/symbols/{symbol}/indicators?limit={HISTORY}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200, await response.text()
        body = msgspec.json.decode(await response.read())
    return body["rows"]  # type: ignore[no-any-return]


def same(a: float | None, b: float | None) -> bool:
    """Equal bit for bit, with null for NaN as both sides write it."""
    if a is None or b is None:
        return a is b or (a is None and b is not None and math.isnan(b))
    return a == b and math.copysign(1, a) == math.copysign(1, b)


async def test_a_held_frame_fed_past_the_history_limit_serves_the_output_topics_values(
    settings_factory: SettingsFactory, producer: AIOKafkaProducer, admin: AIOKafkaAdminClient
) -> None:
    settings = (await settings_factory(partitions=2)).model_copy(
        update={"bars": BarSettings(history_bars=HISTORY)}
    )
    k = settings.kafka
    symbols = symbol_names(6)
    market = Market(symbols, seed=31, spacing_ns=25_000_000)  # ~40 ticks per bar per symbol
    sent = 0
    async with running(settings) as service:
        sent += len(await send_tracked(producer, k.ticks_topic, market.chunk(1_000)))  # 25 s
        await wait_for(lambda: caught_up(admin, settings), "the first bars")
        for symbol in symbols:  # read early: each frame is built now, then only fed
            assert len(await served(service.http_port, symbol)) < HISTORY
        for _ in range(6):  # then 6 x 75 s of event time: far past the history limit
            sent += len(await send_tracked(producer, k.ticks_topic, market.chunk(3_000)))
        await wait_for(lambda: caught_up(admin, settings), "every tick")
        rows = {s: await served(service.http_port, s) for s in symbols}
        metrics = await scrape(service.http_port)
    expected = int(metrics["ticksmith_output_records_total"])
    published = await read_all(k.bootstrap_servers, k.output_topic, expected)
    assert_served_as_published(rows, published)
    assert metrics["ticksmith_cache_recomputes_total"] == len(symbols)  # one first read each
    assert len(published) == expected and sent == 19_000


async def test_frames_first_built_far_past_the_history_limit_serve_the_output_topics_values(
    settings_factory: SettingsFactory, producer: AIOKafkaProducer, admin: AIOKafkaAdminClient
) -> None:
    """475 bars closed per symbol, 40 kept, before the first read; a 1-byte cache
    budget then reclaims every frame as soon as its reader lets go, so the second
    round of reads rebuilds each one again (trigger `reclaimed`)."""
    settings = (await settings_factory(partitions=2)).model_copy(
        update={"bars": BarSettings(history_bars=HISTORY), "cache": CacheSettings(budget_bytes=1)}
    )
    k = settings.kafka
    symbols = symbol_names(6)
    market = Market(symbols, seed=37, spacing_ns=25_000_000)
    async with running(settings) as service:
        for _ in range(19):
            await send_tracked(producer, k.ticks_topic, market.chunk(1_000))
        await wait_for(lambda: caught_up(admin, settings), "every tick")
        first = {s: await served(service.http_port, s) for s in symbols}
        again = {s: await served(service.http_port, s) for s in symbols}
        metrics = await scrape(service.http_port)
    expected = int(metrics["ticksmith_output_records_total"])
    assert expected > 6 * 10 * HISTORY  # the history was cut many times over
    published = await read_all(k.bootstrap_servers, k.output_topic, expected)
    assert_served_as_published(first, published)
    assert_served_as_published(again, published)
    recomputes = "ticksmith_cache_recomputes_total"
    assert metrics[recomputes] == 2 * len(symbols), "each read should have built its frame"


def assert_served_as_published(
    rows: dict[str, list[dict[str, float | int | None]]],
    published: list[ConsumerRecord[bytes, bytes]],
) -> None:
    by_bar = {(b.symbol, b.start_ns): b for b in map(output.decode, (r.value for r in published))}
    for symbol, served_rows in rows.items():
        assert len(served_rows) == HISTORY
        for row in served_rows:
            bar = by_bar[(symbol, int(row["start"] or 0))]
            assert row["close"] == bar.close and same(row["vwap"], bar.vwap)
            for column, value in bar.indicators.items():
                assert same(row[column], value), (symbol, row["start"], column)
