"""Faults of the pipeline on the real broker, with ticks streaming the whole time: a
member restarting on a backlog with quiet close on, committed offsets past the log's
end, and more symbols than the store may hold. Every published bar is compared with
an offline recomputation from what the ticks topic holds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
import pandas as pd
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.integration.conftest import read_all, scrape, wait_for
from tests.integration.streams import caught_up, published, running, send_tracked
from tests.oracle import BAR_COLUMNS, assert_bars_equal, offline_bars
from ticksmith.app import Service
from ticksmith.config import BarSettings, IngestSettings, Settings, StoreSettings
from ticksmith.produce.market import Market, symbol_names

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]
SettingsFactory = Callable[..., Awaitable[Settings]]
INTERVAL_NS = 1_000_000_000


@contextlib.asynccontextmanager
async def streaming(
    producer: AIOKafkaProducer, topic: str, market: Market, chunk: int = 200
) -> AsyncIterator[list[pd.DataFrame]]:
    """Ticks sent in the background the whole time, with event time following the
    wall clock (a chunk goes once the clock passed its newest tick), plus one tick of
    an illiquid symbol every ~2 s, whose bars only quiet close can close."""
    sent: list[pd.DataFrame] = []
    stop = asyncio.Event()

    async def send() -> None:
        n = 0
        while not stop.is_set():
            ticks = market.chunk(chunk)
            if n % 10 == 0:
                ticks = pd.concat([ticks, ticks.tail(1).assign(symbol="ILLQ")], ignore_index=True)
            await asyncio.sleep(max(0.0, (int(ticks["ts"].max()) - time.time_ns()) / 1e9))
            sent.append(await send_tracked(producer, topic, ticks))
            n += 1

    task = asyncio.create_task(send())
    try:
        yield sent
    finally:
        stop.set()
        await task


def live_market(symbols: int, seed: int) -> Market:
    spacing = 5_000_000  # 200 ticks/s
    return Market(symbol_names(symbols), seed=seed, start_ns=time.time_ns(), spacing_ns=spacing)


async def ticks_in_log(bootstrap: str, topic: str, expected: int) -> pd.DataFrame:
    """Every tick the topic holds, in partition order: the oracle's input."""
    records = await read_all(bootstrap, topic, expected)
    rows = [msgspec.json.decode(r.value) for r in records]
    return pd.DataFrame(rows).assign(partition=[r.partition for r in records])


async def dead_letters(bootstrap: str, topic: str) -> list[str]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=2_000)
        return [dict(r.headers)["ticksmith.reason"].decode() for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()


async def all_published(settings: Settings, expected: pd.DataFrame) -> pd.DataFrame:
    k = settings.kafka
    bars, _ = published(await read_all(k.bootstrap_servers, k.output_topic, len(expected)))
    return bars.loc[1000]


@pytest.mark.parametrize("run", range(2))
async def test_a_member_restarting_on_a_backlog_with_quiet_close_loses_no_tick(
    run: int,
    settings_factory: SettingsFactory,
    producer: AIOKafkaProducer,
    admin: AIOKafkaAdminClient,
) -> None:
    # small fetches, so the backlog takes several batches to drain
    settings = (await settings_factory(partitions=3, fetch_max_records=300)).model_copy(
        update={"bars": BarSettings(quiet_close_ms=3_000)}
    )
    k = settings.kafka
    async with streaming(producer, k.ticks_topic, live_market(30, seed=run)) as sent:
        async with running(settings):
            await asyncio.sleep(4)
        await asyncio.sleep(15)  # the member is away; a backlog builds
        async with running(settings):
            await asyncio.sleep(4)
    async with running(settings):
        await wait_for(lambda: caught_up(admin, settings), "the member to catch up", 60)
        ticks = await ticks_in_log(k.bootstrap_servers, k.ticks_topic, sum(map(len, sent)))
        # idle and caught up: the wall clock closes every bar, the illiquid one's too
        everything = offline_bars(pd.concat([ticks, closers(ticks)]), INTERVAL_NS)
        bars = await all_published(settings, everything)
    assert (await dead_letters(k.bootstrap_servers, k.dead_letter_topic)) == []
    assert_bars_equal(bars, everything)
    assert everything.loc["ILLQ"]["count"].sum() == (ticks["symbol"] == "ILLQ").sum()


def closers(ticks: pd.DataFrame) -> pd.DataFrame:
    """One far-future tick per symbol, so the oracle closes every bar."""
    last = ticks.groupby("symbol", as_index=False).tail(1)
    return last.assign(ts=2**62)


async def commit_past_the_end(settings: Settings, offset: int) -> None:
    k = settings.kafka
    consumer = AIOKafkaConsumer(
        bootstrap_servers=k.bootstrap_servers, group_id=k.group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = [TopicPartition(k.ticks_topic, p) for p in range(k.topic_partitions)]
        consumer.assign(tps)
        await consumer.commit(dict.fromkeys(tps, offset))
    finally:
        await consumer.stop()


async def test_committed_offsets_past_the_log_end_reset_with_a_warning_and_go_live(
    settings_factory: SettingsFactory,
    producer: AIOKafkaProducer,
    admin: AIOKafkaAdminClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = await settings_factory(partitions=2)
    k = settings.kafka
    await commit_past_the_end(settings, 50_000)  # as after the topic was recreated
    caplog.set_level(logging.WARNING, logger="ticksmith")
    market = Market(symbol_names(20), seed=3, spacing_ns=2_000_000)
    async with running(settings) as service:
        sent = [await send_tracked(producer, k.ticks_topic, market.chunk(3_000)) for _ in range(3)]
        await wait_for(lambda: caught_up(admin, settings), "commits at the log's end", 60)
        metrics = await scrape(service.http_port)
    ticks = pd.concat(sent, ignore_index=True)
    expected = offline_bars(ticks, INTERVAL_NS)
    assert_bars_equal(await all_published(settings, expected), expected)
    assert metrics["ticksmith_offset_resets_total"] == 2
    assert metrics.get("ticksmith_ticks_replayed_total", 0) == 0
    warned = [r.getMessage() for r in caplog.records if "past the end" in r.getMessage()]
    assert sorted(w.split(":")[0] for w in warned) == ["partition 0", "partition 1"]


async def test_new_symbols_beyond_the_limit_are_dead_lettered_and_the_rest_is_exact(
    settings_factory: SettingsFactory, producer: AIOKafkaProducer, admin: AIOKafkaAdminClient
) -> None:
    settings = (await settings_factory(partitions=1)).model_copy(
        update={"store": StoreSettings(max_symbols=6)}
    )
    k = settings.kafka
    ticks = Market(symbol_names(10), seed=4, spacing_ns=2_000_000).chunk(5_000)
    async with running(settings) as service:
        await send_tracked(producer, k.ticks_topic, ticks)
        await wait_for(lambda: caught_up(admin, settings), "the member to catch up", 60)
        held = service.store.symbols()
        metrics = await scrape(service.http_port)
    refused = ~ticks["symbol"].isin(held)
    assert len(held) == 6
    assert metrics["ticksmith_dead_letters_total"] == refused.sum()
    reasons = await dead_letters(k.bootstrap_servers, k.dead_letter_topic)
    assert reasons == ["symbol_limit"] * refused.sum()
    expected = offline_bars(ticks[~refused], INTERVAL_NS)
    assert_bars_equal(await all_published(settings, expected), expected[BAR_COLUMNS])


async def test_a_symbol_first_seen_live_after_a_partial_replay_publishes_no_partial_bar(
    settings_factory: SettingsFactory, producer: AIOKafkaProducer, admin: AIOKafkaAdminClient
) -> None:
    """X's first tick (offset 0) is before the replay, its second arrives live in the
    same bar: that bar is partial to this member, and must not be published."""
    settings = (await settings_factory(partitions=1)).model_copy(
        update={"ingest": IngestSettings(replay_lookback_records=20)}
    )
    k = settings.kafka
    s = 1_000_000_000
    base = 1_732_459_200 * s
    before = [("X", base + s // 10)] + [("Y", base + s // 5 + i * 10_000_000) for i in range(50)]
    sent = [await send_tracked(producer, k.ticks_topic, tick_frame(before))]
    await commit_past_the_end(settings, 40)  # a previous owner committed up to 40
    async with running(settings) as service:
        await wait_for(lambda: went_live(service), "the replay to end")
        after = [("X", base + s - 1), ("X", base + 3 * s // 2), ("Y", base + 8 * s // 5)]
        after += [("X", base + 2 * s + 1), ("Y", base + 2 * s + 2)]
        sent.append(await send_tracked(producer, k.ticks_topic, tick_frame(after)))
        await wait_for(lambda: caught_up(admin, settings), "the member to catch up", 60)
        metrics = await scrape(service.http_port)
    expected = offline_bars(pd.concat(sent, ignore_index=True), INTERVAL_NS)
    bars = await all_published(settings, expected.loc[expected.index.get_level_values(1) > base])
    assert list(bars.index) == [("X", base + s), ("Y", base + s)]  # [base, base+1s) dropped
    assert_bars_equal(bars, expected.loc[bars.index])
    assert metrics["ticksmith_partial_bars_dropped_total"] == 2


async def went_live(service: Service) -> bool:
    return bool(service.member.assigned) and not service.member.warming_up


def tick_frame(ticks: list[tuple[str, int]]) -> pd.DataFrame:
    symbol, ts = zip(*ticks, strict=True)
    n = len(ticks)
    return pd.DataFrame(
        {"symbol": symbol, "ts": ts, "price": [100.0 + i for i in range(n)], "size": [1.0] * n}
    ).assign(side="B")
