"""The forming-bar endpoint through the real broker: while ticks stream it serves
each symbol's bar in progress; once producing stops, the bar it serves is the one
the next tick closes, and the output record published for it carries the same
bar fields, indicator values and ready flags."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import msgspec
import pandas as pd
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from tests.integration.conftest import wait_for
from tests.integration.streams import caught_up, running, send_tracked
from ticksmith import output
from ticksmith.bar import SERVED
from ticksmith.config import Settings
from ticksmith.output import BarRecord
from ticksmith.produce.market import Market, symbol_names

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]
SettingsFactory = Callable[..., Awaitable[Settings]]
INTERVALS_MS = (1_000, 5_000)
MS = 1_000_000
READ = ("SYM0000", "SYM0002", "SYM0003")


async def held(port: int, symbol: str) -> bool:
    url = f"http://127.0.0.1:{port}/v1/symbols/{symbol}/forming"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status == 200


async def forming(port: int, symbol: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/v1/symbols/{symbol}/forming?bars=1000,5000"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200, await response.text()
        rows: list[dict[str, Any]] = msgspec.json.decode(await response.read())["rows"]
        return rows


async def records_of(settings: Settings, wanted: set[tuple[int, str, int]]) -> list[BarRecord]:
    """The output topic's records of the wanted (interval, symbol, start) bars."""
    k = settings.kafka
    consumer = AIOKafkaConsumer(
        k.output_topic, bootstrap_servers=k.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: dict[tuple[int, str, int], BarRecord] = {}
    deadline = time.monotonic() + 60
    try:
        while set(found) != wanted and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                bars = (output.decode(r.value) for r in records)
                found |= {
                    key: b for b in bars if (key := (b.interval_ms, b.symbol, b.start_ns)) in wanted
                }
    finally:
        await consumer.stop()
    assert set(found) == wanted, f"missing {wanted - set(found)}"
    return [found[key] for key in sorted(wanted)]


def starts(ticks: pd.DataFrame, symbol: str) -> dict[int, int]:
    """Per interval, the start of the bar of the symbol's newest tick."""
    newest = int(ticks.loc[ticks["symbol"] == symbol, "ts"].max())
    return {ms: newest - newest % (ms * MS) for ms in INTERVALS_MS}


async def test_the_forming_bar_is_the_bar_the_next_tick_closes_and_publishes(
    settings_factory: SettingsFactory, producer: AIOKafkaProducer, admin: AIOKafkaAdminClient
) -> None:
    settings = await settings_factory(partitions=2)
    settings = settings.model_copy(
        update={"bars": settings.bars.model_copy(update={"intervals_ms": INTERVALS_MS})}
    )
    market = Market(symbol_names(4), seed=14, spacing_ns=10 * MS)
    topic = settings.kafka.ticks_topic
    async with running(settings) as service:
        sent = [await send_tracked(producer, topic, market.chunk(2_000))]
        await wait_for(lambda: held(service.http_port, READ[0]), "the first ticks applied")
        for _ in range(2):  # read while ticks stream: a bar at or before the newest sent
            sent.append(await send_tracked(producer, topic, market.chunk(2_000)))
            for row in await forming(service.http_port, READ[0]):
                assert row["start"] <= starts(pd.concat(sent), READ[0])[row["interval_ms"]]
        await wait_for(lambda: caught_up(admin, settings), "offsets committed to the end")
        ticks = pd.concat(sent)
        peeked = {s: await forming(service.http_port, s) for s in READ}
        closers = pd.DataFrame(
            {
                "symbol": list(READ),
                "ts": [starts(ticks, s)[INTERVALS_MS[-1]] + INTERVALS_MS[-1] * MS for s in READ],
                "price": 100.0,
                "size": 1.0,
                "side": "B",
            }
        )
        await send_tracked(producer, topic, closers)
        wanted = {(r["interval_ms"], s, r["start"]) for s, rows in peeked.items() for r in rows}
        published = await records_of(settings, wanted)

    for symbol, rows in peeked.items():
        assert {r["interval_ms"]: r["start"] for r in rows} == starts(ticks, symbol)
    by_key = {(r.interval_ms, r.symbol, r.start_ns): r for r in published}
    for symbol, rows in peeked.items():
        for row in rows:
            record = by_key[(row["interval_ms"], symbol, row["start"])]
            assert {f.name: row[f.name] for f in SERVED} == {
                f.name: getattr(record, f.name) for f in SERVED
            }
            assert {c: row[c] for c in record.indicators} == record.indicators
            assert row["ready"] == record.ready
    assert any(any(r.ready.values()) for r in published)  # some values are past warm-up
