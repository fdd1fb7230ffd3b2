"""`ticksmith replay` as a user runs it, into the real broker, read by `ticksmith run`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.integration import streams
from tests.integration.conftest import read_all, run_until_consumed, service_env
from tests.oracle import assert_bars_equal, offline_bars
from ticksmith.config import Settings
from ticksmith.produce.market import Market, symbol_names

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]
SettingsFactory = Callable[..., Awaitable[Settings]]
SECOND_NS = 1_000_000_000


async def replay(path: Path, env: dict[str, str], *flags: str) -> tuple[str, str]:
    """`ticksmith replay path flags...` to the end; its stdout and stderr."""
    command = [sys.executable, "-m", "ticksmith", "replay", str(path), *flags]
    proc = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-3000:]
    return out.decode(), err.decode()


async def bars_of_a_run(settings: Settings, port: int, ticks: int, bars: int) -> pd.DataFrame:
    """`ticksmith run` until it consumed `ticks`; the 1 s bars it published, by (symbol, start)."""
    env = service_env(settings, port)
    code, err = await run_until_consumed(
        [sys.executable, "-m", "ticksmith", "run"], env, port, ticks
    )
    assert code == 0, err[-3000:]
    k = settings.kafka
    published, duplicates = streams.published(
        await read_all(k.bootstrap_servers, k.output_topic, bars)
    )
    assert duplicates == 0
    return published.loc[1_000]


async def test_a_million_replayed_ticks_become_exactly_the_offline_bars(
    settings_factory: SettingsFactory, unused_tcp_port: int, tmp_path: Path
) -> None:
    settings = await settings_factory(partitions=4)
    ticks = Market(symbol_names(50), seed=11).chunk(1_000_000)  # 1,000 s of event time
    path = tmp_path / "ticks.parquet"
    ticks.rename(columns={"symbol": "SYM", "ts": "time_us"}).assign(
        time_us=ticks["ts"] // 1_000
    ).to_parquet(path, index=False)
    ticks = ticks.assign(ts=ticks["ts"] // 1_000 * 1_000)  # what the file holds
    env = service_env(settings, unused_tcp_port)
    # binary-batch: json sends at ~65 k ticks/s (bench/RESULTS.md, ## replay), 15 s more;
    # the json path is the next test's. The file's names and unit are a vendor's.
    flags = "--format binary-batch --columns symbol=SYM,ts=time_us --ts-unit us --quiet"
    out, err = await replay(path, env, *flags.split())
    assert "sent 1,000,000 ticks to" in out and "warning" not in err
    expected = offline_bars(ticks, SECOND_NS)
    assert len(expected) > 50 * 900
    bars = await bars_of_a_run(settings, unused_tcp_port, len(ticks), len(expected))
    assert_bars_equal(bars, expected)


async def test_replay_warns_of_old_and_unordered_ticks_and_the_service_refuses_the_old(
    settings_factory: SettingsFactory, unused_tcp_port: int, tmp_path: Path
) -> None:
    settings = await settings_factory(partitions=2)
    ticks = Market(symbol_names(5), seed=12).chunk(20_000)
    old = ticks.head(300).assign(ts=ticks["ts"].head(300) - 30 * 365 * 86_400 * SECOND_NS)
    # SYM0002's second tick (row 12) sent before its first (row 0): warned of, yet in
    # the same open bar, so the bar still equals the oracle's (event order)
    assert ticks["symbol"].iloc[12] == ticks["symbol"].iloc[0]
    order = [12, *range(12), *range(13, len(ticks))]
    sent = pd.concat([old, ticks.iloc[order]], ignore_index=True)
    path = tmp_path / "ticks.jsonl"
    sent.to_json(path, orient="records", lines=True)
    env = service_env(settings, unused_tcp_port)
    out, err = await replay(path, env, "--quiet")
    assert "sent 20,300 ticks to" in out
    assert "300 of 20,300 ticks are before ingest.min_event_time" in err
    assert "1 of 20,300 ticks are not in event-time order for their symbol" in err
    expected = offline_bars(ticks, SECOND_NS)
    bars = await bars_of_a_run(settings, unused_tcp_port, len(ticks), len(expected))
    assert_bars_equal(bars, expected)
    k = settings.kafka
    assert len(await read_all(k.bootstrap_servers, k.dead_letter_topic, 300)) == 300


async def test_replay_to_a_missing_topic_names_the_setting(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    path = tmp_path / "ticks.csv"
    Market(symbol_names(2), seed=1).chunk(10).to_csv(path, index=False)
    env = {
        **os.environ,
        "TICKSMITH_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
        "TICKSMITH_KAFKA__TICKS_TOPIC": "no-such-topic",
    }
    command = [sys.executable, "-m", "ticksmith", "replay", str(path), "--quiet"]
    proc = await asyncio.create_subprocess_exec(*command, env=env, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert "kafka.ticks_topic: topic 'no-such-topic' does not exist" in err.decode()


async def test_a_paced_replay_sends_each_tick_at_its_event_time_over_the_speed(
    settings_factory: SettingsFactory, unused_tcp_port: int, tmp_path: Path
) -> None:
    """--speed 4 on 8 s of event time: the broker receives the ticks over ~2 s, each
    about (its event time - the first's) / 4 after the first, never flat out."""
    settings = await settings_factory(partitions=2)
    ticks = Market(symbol_names(4), seed=13, spacing_ns=4_000_000).chunk(2_000)  # 8 s
    path = tmp_path / "ticks.csv"
    ticks.to_csv(path, index=False)
    env = service_env(settings, unused_tcp_port)
    out, _ = await replay(path, env, "--speed", "4", "--quiet")
    assert "sent 2,000 ticks to" in out
    k = settings.kafka
    records = await read_all(k.bootstrap_servers, k.ticks_topic, len(ticks))
    assert len(records) == len(ticks)
    sent_ms = pd.Series({json.loads(r.value)["ts"]: r.timestamp for r in records})
    event_s = (sent_ms.index.to_numpy() - ticks["ts"].iloc[0]) / SECOND_NS
    due_s = event_s / 4
    late_s = (sent_ms.to_numpy() - sent_ms.min()) / 1000 - due_s
    # not flat out: the last ticks left ~2 s after the first (flat out takes ~0.1 s);
    # each within a pacing slice of its due time (the replay sends what is due in pieces)
    assert (sent_ms.max() - sent_ms.min()) / 1000 > 0.9 * due_s.max()
    assert late_s.min() > -0.3 and np.percentile(late_s, 99) < 0.5
