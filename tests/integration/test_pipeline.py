"""The walking skeleton end to end on the real broker: ticks in, bars out, offsets committed."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable

import numpy as np
import pandas as pd
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from tests.bad_records import BAD, KEPT_FROM_BAD, MAX_RECORD_BYTES
from tests.integration import streams
from tests.integration.conftest import read_all, scrape, wait_for
from tests.oracle import assert_bars_equal, offline_bars
from ticksmith import output
from ticksmith.app import Service
from ticksmith.cache.frames import bars_to_frame
from ticksmith.config import BarSettings, Settings
from ticksmith.indicators import indicator_frame, indicator_specs, phase_of
from ticksmith.produce.market import Market, symbol_names
from ticksmith.produce.writer import encode_chunk, send_all

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]
SettingsFactory = Callable[..., Awaitable[Settings]]


def store_bars(service: Service) -> pd.DataFrame:
    frames = {s: bars_to_frame(service.store.bars(s)) for s in service.store.symbols()}
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
    settings = settings.model_copy(update={"bars": BarSettings(intervals_ms=(1_000, 5_000))})
    k = settings.kafka
    ticks = Market(symbol_names(60), seed=7, spacing_ns=2_000_000).chunk(30_000)
    await send_all(producer, settings.kafka.ticks_topic, encode_chunk(ticks))
    expected = offline_bars(ticks, 1_000_000_000)
    coarse = offline_bars(ticks, 5_000_000_000)
    assert len(expected) > 60 * 20 and len(coarse) > 60 * 5

    async with streams.running(settings) as service:
        await wait_for(lambda: streams.caught_up(admin, settings), "offsets committed to the end")
        metrics = await scrape(service.http_port)
        assert_bars_equal(store_bars(service).loc[expected.index], expected)
        assert len(store_bars(service)) == len(expected)

    published = await read_all(k.bootstrap_servers, k.output_topic, len(expected) + len(coarse))
    bars, duplicates = streams.published(published)
    assert_bars_equal(bars.loc[1_000], expected)
    assert_bars_equal(bars.loc[5_000], coarse)
    assert duplicates == 0
    assert all(r.key == output.decode(r.value).symbol.encode() for r in published)
    for symbol in ("SYM0000", "SYM0042"):  # live indicators == the backfill path, exactly
        mine = sorted((output.decode(r.value) for r in published), key=lambda b: b.start_ns)
        mine = [b for b in mine if b.symbol == symbol and b.interval_ms == 1_000]
        frame = indicator_frame(expected.loc[symbol], indicator_specs(settings), phase_of(symbol))
        for column in ("sma_20", "ema_20", "rsi_14", "macd_12_26_9_hist", "atr_14"):
            live = np.array([b.indicators[column] for b in mine], dtype=float)
            np.testing.assert_array_equal(live, frame[column].to_numpy())
        assert [b.ready["rsi_14"] for b in mine] == [i >= 14 for i in range(len(mine))]
    assert metrics["ticksmith_ticks_consumed_total"] == len(ticks)
    assert metrics["ticksmith_records_consumed_total"] == len(ticks)
    assert metrics["ticksmith_bars_closed_total"] == len(expected) + len(coarse)
    assert metrics["ticksmith_output_records_total"] == len(expected) + len(coarse)
    assert metrics.get("ticksmith_dead_letters_total", 0) == 0
    assert metrics["ticksmith_consumer_lag_messages"] == 0
    assert metrics["ticksmith_store_symbols"] == 60


async def test_every_kind_of_bad_record_is_dead_lettered_and_good_ticks_are_kept(
    settings_factory: SettingsFactory, producer: AIOKafkaProducer, admin: AIOKafkaAdminClient
) -> None:
    settings = await settings_factory(partitions=1)
    settings = settings.model_copy(
        update={"ingest": settings.ingest.model_copy(update={"max_record_bytes": MAX_RECORD_BYTES})}
    )
    ticks = Market(symbol_names(1), seed=5, start_ns=time.time_ns()).chunk(300)
    good = encode_chunk(ticks)
    bad = [(key, value) for key, value, _ in BAD]
    await send_all(producer, settings.kafka.ticks_topic, good[:100] + bad + good[100:])

    async with streams.running(settings) as service:
        await wait_for(lambda: streams.caught_up(admin, settings), "offsets committed to the end")
        metrics = await scrape(service.http_port)

    letters = await read_all(
        settings.kafka.bootstrap_servers, settings.kafka.dead_letter_topic, len(BAD)
    )
    headers = [dict(r.headers) for r in letters]
    assert [h["ticksmith.reason"].decode() for h in headers] == [reason for _, _, reason in BAD]
    assert [(r.key, r.value) for r in letters] == bad
    assert [int(h["ticksmith.source.offset"]) for h in headers] == list(range(100, 100 + len(BAD)))
    assert {h["ticksmith.source.topic"] for h in headers} == {settings.kafka.ticks_topic.encode()}
    assert metrics["ticksmith_ticks_consumed_total"] == len(ticks) + KEPT_FROM_BAD
    assert metrics["ticksmith_dead_letters_total"] == len(BAD)
    by_reason = Counter(reason for _, _, reason in BAD)
    for reason, count in by_reason.items():
        assert (
            service.metrics.registry.get_sample_value(
                "ticksmith_dead_letters_total", {"reason": reason}
            )
            == count
        )
