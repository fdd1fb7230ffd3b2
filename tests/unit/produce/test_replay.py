"""Replay's first pass (what it warns about) and its sending, against a fake producer."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ticksmith.cli import main
from ticksmith.ingest import binary_codec
from ticksmith.produce.market import Market, symbol_names
from ticksmith.produce.replay import ReplaySpec, Survey, _EventClock, replay, survey
from ticksmith.produce.tick_file import TickFile
from ticksmith.produce.writer import Format

pytestmark = pytest.mark.timeout(30)
TICKS = Market(symbol_names(4), seed=9).chunk(3_000)
MIN_2000 = 946_684_800 * 10**9


class FakeProducer:
    """Records what was sent; every send is acknowledged at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future[None]:
        self.sent.append((topic, key, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def parquet(ticks: pd.DataFrame, path: Path) -> TickFile:
    ticks.to_parquet(path, index=False)
    return TickFile(path, chunk_rows=700)


def test_the_survey_counts_ticks_before_the_minimum_event_time(tmp_path: Path) -> None:
    old = TICKS.assign(ts=TICKS["ts"] - 30 * 365 * 86_400 * 10**9)  # 1994
    ticks = pd.concat([old.head(123), TICKS.tail(1_000)], ignore_index=True)
    found = survey(parquet(ticks, tmp_path / "t.parquet"), MIN_2000)
    assert (found.ticks, found.too_old, found.behind) == (1_123, 123, 0)
    (warning,) = found.warnings(MIN_2000)
    assert warning.startswith("123 of 1,123 ticks are before ingest.min_event_time (2000-01-01")
    assert "dead-letter" in warning and "TICKSMITH_INGEST__MIN_EVENT_TIME" in warning


def test_ticks_in_order_give_no_warning(tmp_path: Path) -> None:
    found = survey(parquet(TICKS, tmp_path / "t.parquet"), MIN_2000)
    assert found.ticks == len(TICKS)
    assert found.warnings(MIN_2000) == []


def test_the_survey_counts_ticks_behind_their_symbol_across_chunks() -> None:
    found = Survey()
    first = pd.DataFrame({"symbol": ["A", "B", "A"], "ts": [10, 5, 30]})
    found.add(first, 0)
    # A at 20 is behind A's 30 of the chunk before; B at 5 ties, which is not behind;
    # A at 25 is behind too; C is new. ns apart at 1.7e18: floats could not tell.
    big = 1_732_459_200_000_000_000
    found.add(pd.DataFrame({"symbol": ["A", "B", "A", "C"], "ts": [20, 5, 25, 1]}), 0)
    found.add(pd.DataFrame({"symbol": ["D", "D", "D"], "ts": [big + 1, big, big + 1]}), 0)
    assert (found.ticks, found.behind) == (10, 3)
    (warning,) = found.warnings(0)
    assert warning.startswith("3 of 10 ticks are not in event-time order")


def test_paced_pieces_are_due_at_event_time_over_the_speed() -> None:
    ts = np.array([0, 10, 60, 100, 90, 2_000], dtype=np.int64) * 1_000_000  # ms
    chunk = pd.DataFrame({"ts": ts + 1_700_000_000 * 10**9})
    pieces = list(_EventClock(speed=2.0).pieces(chunk))
    # due 0, .005, .03, .05, .05 (behind 100 ms: due with it), 1.0; 50 ms slots
    assert [len(p) for p, _ in pieces] == [3, 2, 1]
    assert [due for _, due in pieces] == [0.0, 0.05, 1.0]
    assert [len(p) for p, _ in _EventClock(speed=0).pieces(chunk)] == [6]


@pytest.mark.parametrize("fmt", ["json", "binary", "binary-batch"])
async def test_replay_sends_every_tick_keyed_by_symbol(tmp_path: Path, fmt: Format) -> None:
    producer = FakeProducer()
    file = parquet(TICKS, tmp_path / "t.parquet")
    spec = ReplaySpec("ticks", fmt=fmt, batch_size=50, progress=False)
    sent, _ = await replay(producer, file, spec, asyncio.Event())
    assert sent == len(TICKS)
    assert {topic for topic, _, _ in producer.sent} == {"ticks"}
    got = pd.concat([_decoded(key, value) for _, key, value in producer.sent])
    got = got.sort_values(["symbol", "ts"], ignore_index=True)
    expected = TICKS.sort_values(["symbol", "ts"], ignore_index=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    per_record = {"json": 1, "binary": 1, "binary-batch": 50}[fmt]
    assert len(producer.sent) >= len(TICKS) / per_record


def _decoded(key: bytes, value: bytes) -> pd.DataFrame:
    """One record's ticks (docs/formats.md), after checking its key is its symbol."""
    if value[:1] == b"{":
        tick = json.loads(value)
        assert tick["symbol"].encode() == key
        return pd.DataFrame([tick])
    sym_len = value[1]
    symbol = value[2 : 2 + sym_len].decode()
    assert symbol.encode() == key
    rows = np.frombuffer(value[6 + sym_len :], dtype=binary_codec.TICK)
    side = np.where(rows["side"] == 1, "S", "B")
    return pd.DataFrame(
        {"symbol": symbol, "ts": rows["ts_ns"], "price": rows["price"], "size": rows["size"]}
    ).assign(side=side)


async def test_a_paced_replay_takes_the_event_time_over_the_speed(tmp_path: Path) -> None:
    ticks = TICKS.head(1_000)  # about 1 s of event time
    span_s = (ticks["ts"].iloc[-1] - ticks["ts"].iloc[0]) / 1e9
    spec = ReplaySpec("ticks", speed=4.0, progress=False)
    started = time.monotonic()
    sent, _ = await replay(
        FakeProducer(), parquet(ticks, tmp_path / "t.parquet"), spec, asyncio.Event()
    )
    assert sent == 1_000
    assert span_s / 4 - 0.06 <= time.monotonic() - started < span_s / 4 + 1.0


async def test_replay_stops_when_asked(tmp_path: Path) -> None:
    stop = asyncio.Event()
    stop.set()
    spec = ReplaySpec("ticks", progress=False)
    sent, _ = await replay(FakeProducer(), parquet(TICKS, tmp_path / "t.parquet"), spec, stop)
    assert sent == 0


def test_a_missing_column_exits_2_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.csv"
    TICKS.to_csv(path, index=False)
    # no broker on this port: the file is refused before any client starts
    environ = {"TICKSMITH_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:9"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, value)
        assert main(["replay", str(path), "--columns", "price=px", "--quiet"]) == 2
    assert "no column 'px' for price; map it with --columns price=NAME" in capsys.readouterr().err
