"""Activity bars through the real broker: a member killed mid-stream and restarted
with a replay lookback shorter than the stream still publishes every activity
bar exactly as the offline recomputation makes it, and serves the same."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable

import aiohttp
import msgspec
import numpy as np
import pandas as pd
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from bench._broker import end_offsets

from tests.integration.conftest import read_all, service_env
from tests.integration.streams import killed_mid_stream
from tests.oracle import BAR_COLUMNS, assert_bars_equal, offline_activity_bars
from ticksmith import output
from ticksmith.bar import ActivitySet
from ticksmith.config import Settings
from ticksmith.produce.market import Market, symbol_names

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]
SettingsFactory = Callable[..., Awaitable[Settings]]
ANCHOR_MS = 2_000
SETS = (ActivitySet("ticks", 4), ActivitySet("volume", 2_000.0), ActivitySet("dollars", 5e5))
ACTIVITY_ENV = {
    "TICKSMITH_BARS__TICKS": "[4]",
    "TICKSMITH_BARS__VOLUME": "[2000.0]",
    "TICKSMITH_BARS__DOLLARS": "[500000.0]",
    "TICKSMITH_BARS__ACTIVITY_ANCHOR_MS": str(ANCHOR_MS),
    # a few anchor periods of each partition: the replay after the restart starts
    # mid-stream, but before the anchor period of the committed offset
    "TICKSMITH_INGEST__REPLAY_LOOKBACK_RECORDS": "400",
}


async def start(settings: Settings, port: int) -> asyncio.subprocess.Process:
    env = service_env(settings, port) | ACTIVITY_ENV
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ticksmith", "run", env=env, stderr=asyncio.subprocess.DEVNULL
    )


def activity_published(records: list[ConsumerRecord[bytes, bytes]]) -> pd.DataFrame:
    """Activity records as a frame indexed (label, symbol, start_ns); a bar
    published twice (the uncommitted tail) has the same bar fields both times."""
    by_bar: dict[tuple[str, str, int], dict[str, object]] = {}
    for r in records:
        if not output.is_activity(r.value):
            continue
        bar = msgspec.structs.asdict(output.decode_activity(r.value))
        label = ActivitySet(bar["bar_type"], float(bar["threshold"])).label
        fields = {k: bar[k] for k in (*BAR_COLUMNS, "partial")}
        seen = by_bar.setdefault((label, bar["symbol"], bar["start_ns"]), fields)
        assert seen == fields, f"two different {label} bars of {bar['symbol']}"
    index = pd.MultiIndex.from_tuples(list(by_bar), names=["label", "symbol", "start_ns"])
    frame = pd.DataFrame(list(by_bar.values()), index=index)
    frame["vwap"] = frame["vwap"].astype(float)
    return frame.sort_index()


def expected_bars(ticks: pd.DataFrame, bar_set: ActivitySet) -> pd.DataFrame:
    return offline_activity_bars(ticks, bar_set.measure, bar_set.threshold, ANCHOR_MS * 10**6)


async def served(port: int, symbol: str, label: str) -> pd.DataFrame:
    url = f"http://127.0.0.1:{port}/v1/symbols/{symbol}/bars?activity={label}&limit=100000"
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        assert r.status == 200
        body = json.loads(await r.read())
    bar_set = ActivitySet.of_label(label)
    assert (body["bar_type"], body["threshold"]) == (bar_set.kind, bar_set.json_threshold)
    return pd.DataFrame(body["rows"]).set_index("start").rename_axis("start_ns")


async def test_activity_bars_are_exact_after_a_restart_mid_stream(
    settings_factory: SettingsFactory,
    producer: AIOKafkaProducer,
    admin: AIOKafkaAdminClient,
    unused_tcp_port_factory: Callable[[], int],
) -> None:
    settings = await settings_factory(partitions=3)
    k = settings.kafka
    market = Market(symbol_names(40), seed=21, spacing_ns=5_000_000)
    ports = unused_tcp_port_factory
    async with killed_mid_stream(settings, producer, admin, start, ports, market) as run:
        api = {s.label: await served(run.port, "SYM0001", s.label) for s in SETS}
    sent = run.sent

    ticks = pd.concat(sent, ignore_index=True).sort_values(["partition", "offset"])
    expected = {s.label: expected_bars(ticks, s) for s in SETS}
    ends = await end_offsets(k.bootstrap_servers, k.output_topic, k.topic_partitions)
    records = await read_all(k.bootstrap_servers, k.output_topic, sum(ends.values()))
    published = activity_published(records)
    for bar_set in SETS:
        want = expected[bar_set.label]
        assert want["partial"].any() and not want["partial"].all()  # anchors and thresholds
        got = published.loc[bar_set.label]
        missing, extra = want.index.difference(got.index), got.index.difference(want.index)
        assert not len(missing) and not len(extra), (bar_set.label, missing[:3], extra[:3])
        assert_bars_equal(got, want)
        assert (got["partial"] == want["partial"]).all()
        held = api[bar_set.label]  # the restarted member holds the bars since its replay
        mine = want.loc["SYM0001"]
        assert 0 < len(held) < len(mine)
        assert_bars_equal(held, mine.loc[held.index[0] :])
        assert np.all(np.diff(held.index) > 0)
