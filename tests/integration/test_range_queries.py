"""Range queries through the real broker: for several ranges, in both forms of
instant and both formats, the API's rows are exactly the output topic's records
of the bars whose start is in [from, to), and following ``next`` walks a range
cut by ``limit`` once, in order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import aiohttp
import msgspec
import pyarrow as pa
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from tests.integration.conftest import read_all, scrape, wait_for
from tests.integration.streams import caught_up, running, send_tracked
from tests.integration.test_cache_feed import same
from ticksmith import output
from ticksmith.api.openapi import ARROW
from ticksmith.bar import SERVED
from ticksmith.config import Settings
from ticksmith.output import BarRecord
from ticksmith.produce.market import Market, symbol_names

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]
SettingsFactory = Callable[..., Awaitable[Settings]]
Row = dict[str, Any]


def iso(ns: int, offset_minutes: int = 0) -> str:
    """`ns` as an RFC 3339 date-time to the ns, in UTC as Z or at an offset."""
    wall = datetime.fromtimestamp(ns // 10**9, timezone(timedelta(minutes=offset_minutes)))
    text = wall.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 10**9:09d}"
    zone = wall.strftime("%z")
    return text + ("Z" if offset_minutes == 0 else f"{zone[:3]}:{zone[3:]}")


async def get_json(root: str, path: str, **query: str | int) -> Row:
    url = f"{root}{path}?{urlencode(query)}" if query else root + path
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200, await response.text()
        return msgspec.json.decode(await response.read())  # type: ignore[no-any-return]


async def walk(root: str, path: str, **query: str | int) -> list[Row]:
    """Every row of a range, following `next` page by page."""
    body = await get_json(root, path, **query)
    rows: list[Row] = body["rows"]
    while body["next"] is not None:
        assert len(body["rows"]) == query["limit"]
        body = await get_json(root, body["next"])
        rows += body["rows"]
    return rows


async def test_ranges_serve_exactly_the_published_bars_in_them(
    settings_factory: SettingsFactory, producer: AIOKafkaProducer, admin: AIOKafkaAdminClient
) -> None:
    settings = await settings_factory(partitions=2)
    k = settings.kafka
    symbols = symbol_names(3)
    market = Market(symbols, seed=43, spacing_ns=25_000_000)  # ~13 ticks per bar per symbol
    async with running(settings) as service:
        for _ in range(3):  # 75 s of event time: ~75 one-second bars per symbol
            await send_tracked(producer, k.ticks_topic, market.chunk(1_000))
        await wait_for(lambda: caught_up(admin, settings), "every tick")
        metrics = await scrape(service.http_port)
        expected = int(metrics["ticksmith_output_records_total"])
        published = await read_all(k.bootstrap_servers, k.output_topic, expected)
        bars = published_bars(published)
        root = f"http://127.0.0.1:{service.http_port}"
        for symbol, mine in bars.items():
            await check_ranges(root, symbol, mine)
    assert len(published) == expected and min(map(len, bars.values())) > 60
    assert all(mine[-1].indicators for mine in bars.values())  # indicators were compared


def published_bars(published: list[Any]) -> dict[str, list[BarRecord]]:
    """Each symbol's one-second bars from the output topic, oldest first."""
    by_symbol: dict[str, dict[int, BarRecord]] = {}
    for record in map(output.decode, (r.value for r in published)):
        if record.interval_ms == 1_000:
            by_symbol.setdefault(record.symbol, {})[record.start_ns] = record
    return {s: [bars[t] for t in sorted(bars)] for s, bars in by_symbol.items()}


async def check_ranges(root: str, symbol: str, bars: list[BarRecord]) -> None:
    starts = [b.start_ns for b in bars]
    indicators, plain = f"/v1/symbols/{symbol}/indicators", f"/v1/symbols/{symbol}/bars"
    ranges: list[tuple[dict[str, str | int], list[BarRecord]]] = [
        ({"from": starts[10], "to": starts[20]}, bars[10:20]),  # ns; to is exclusive
        ({"from": iso(starts[5] + 1), "to": iso(starts[15], -300)}, bars[6:15]),  # Z, -05:00
        ({"from": iso(starts[30], 330), "to": iso(starts[31] - 1, 330)}, bars[30:31]),  # +05:30
        ({"from": starts[3] + 1, "to": starts[4]}, []),  # between two bars
        ({"to": starts[0]}, []),  # before every bar
        ({"from": starts[-1] + 1}, []),  # after every closed bar
        ({"from": 0}, bars),
    ]
    for query, chosen in ranges:
        body = await get_json(root, indicators, limit=100_000, **query)
        assert_rows(body["rows"], chosen)
        assert body["next"] is None
        assert_rows((await get_json(root, plain, limit=100_000, **query))["rows"], chosen, False)
    assert_rows(await walk(root, indicators, limit=7, **{"from": iso(starts[2])}), bars[2:])
    paged = await walk(root, plain, limit=4, **{"from": starts[1], "to": starts[-2]})
    assert_rows(paged, bars[1:-2], indicators=False)
    await check_arrow(f"{root}{plain}?from={starts[40]}&to={starts[50]}&limit=6", bars[40:46])


def assert_rows(rows: list[Row], bars: list[BarRecord], indicators: bool = True) -> None:
    """The rows are these bars, field for field (and indicator for indicator)."""
    assert [row["start"] for row in rows] == [bar.start_ns for bar in bars]
    for row, bar in zip(rows, bars, strict=True):
        for field in SERVED:
            assert same(row[field.name], getattr(bar, field.name)), (bar.start_ns, field.name)
        assert (set(row) >= set(bar.indicators)) is indicators or not bar.indicators
        for column, value in bar.indicators.items() if indicators else ():
            assert same(row[column], value), (bar.start_ns, column)


async def check_arrow(url: str, bars: list[BarRecord]) -> None:
    async with aiohttp.ClientSession() as http, http.get(url, headers={"Accept": ARROW}) as r:
        assert r.status == 200 and r.content_type == ARROW
        table = pa.ipc.open_stream(await r.read()).read_all()
        assert r.headers["Link"].endswith('; rel="next"')  # cut at 6 of 10
    assert_rows(table.to_pylist(), bars, indicators=False)
