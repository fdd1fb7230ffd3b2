"""The columnar record path writes, byte for byte and in the same order, what
the per-bar reference below writes (the publisher's logic before it went
columnar): one ``BarRecord`` per bar with its indicators and ready flags as
dicts, NaN mapped to None."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from ticksmith import output
from ticksmith.bar import ActivitySet
from ticksmith.config import Settings
from ticksmith.indicators.closed import ClosedByInterval, ClosedValues
from ticksmith.indicators.columns import Bools, Floats, stack
from ticksmith.indicators.spec import IndicatorSpec, indicator_specs, parse_specs
from ticksmith.kafka.ownership import partition_of
from ticksmith.metrics import Metrics
from ticksmith.pipeline.indicator_worker import IndicatorWorker
from ticksmith.store.bars import BAR_DTYPE, Bars, vwap
from ticksmith.store.calendar import Calendar

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),  # VWAP of 1e308
]

Pairs = dict[int, list[tuple[bytes, bytes]]]
MakeBars = Callable[[np.random.Generator, int], Bars]
SPECIAL = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, -1e-308, 5e-324, 1e16, 1e-7, 0.1]


def reference_records(
    symbol: str,
    interval_ms: int | str,
    rows: Bars,
    values: dict[str, Floats],
    ready: dict[str, Bools],
) -> list[Any]:
    """One symbol's records, a bar at a time: obviously what the output says."""
    if isinstance(interval_ms, str):
        return activity_records(symbol, ActivitySet.of_label(interval_ms), rows, values, ready)
    prices = vwap(rows)
    return [
        output.BarRecord(
            symbol,
            interval_ms,
            int(r["start_ns"]),
            int(r["start_ns"]) + interval_ms * 1_000_000,
            float(r["open"]),
            float(r["high"]),
            float(r["low"]),
            float(r["close"]),
            float(r["volume"]),
            None if math.isnan(p) else float(p),
            int(r["count"]),
            {c: None if math.isnan(v[i]) else float(v[i]) for c, v in values.items()},
            {label: bool(r[i]) for label, r in ready.items()},
        )
        for i, (r, p) in enumerate(zip(rows, prices, strict=True))
    ]


def activity_records(
    symbol: str,
    bar_set: ActivitySet,
    rows: Bars,
    values: dict[str, Floats],
    ready: dict[str, Bools],
) -> list[output.ActivityRecord]:
    prices = vwap(rows)
    return [
        output.ActivityRecord(
            symbol,
            bar_set.kind,
            bar_set.json_threshold,
            int(r["start_ns"]),
            *(float(r[f]) for f in ("open", "high", "low", "close", "volume")),
            None if math.isnan(p) else float(p),
            int(r["count"]),
            bool(r[bar_set.measure] < bar_set.threshold),
            {c: None if math.isnan(v[i]) else float(v[i]) for c, v in values.items()},
            {label: bool(r[i]) for label, r in ready.items()},
        )
        for i, (r, p) in enumerate(zip(rows, prices, strict=True))
    ]


def reference(
    closed: dict[int | str, dict[str, Bars]], values: ClosedByInterval, partitions: int
) -> Pairs:
    out: Pairs = {}
    for ms, by_symbol in closed.items():
        at, ends = values[ms], np.cumsum(values[ms].counts)
        for symbol, rows, end in zip(by_symbol, by_symbol.values(), ends, strict=True):
            part = slice(end - len(rows), end)
            columns = {c: v[part] for c, v in at.values.items()}
            flags = {label: r[part] for label, r in at.ready.items()}
            records = reference_records(symbol, ms, rows, columns, flags)
            pairs = [(symbol.encode(), output.encode(r)) for r in records]
            out.setdefault(partition(symbol, partitions), []).extend(pairs)
    return out


def partition(symbol: str, partitions: int) -> int:
    return sum(symbol.encode()) % partitions


def floats(rng: np.random.Generator, n: int) -> Floats:
    """Mostly ordinary prices, with NaN, infinities, signed zeros, huge, tiny
    and subnormal values mixed in."""
    values: Floats = rng.lognormal(4, 2, n) * rng.choice([1, -1], n)
    special = rng.random(n) < 0.3
    values[special] = rng.choice(SPECIAL, int(special.sum()))
    return values


def random_bars(rng: np.random.Generator, n: int) -> Bars:
    bars = np.zeros(n, dtype=BAR_DTYPE)
    bars["start_ns"] = rng.integers(0, 4_000_000_000, n) * 1_000_000_000
    for field in ("open", "high", "low", "close", "notional"):
        bars[field] = floats(rng, n)
    bars["volume"] = np.where(rng.random(n) < 0.3, 0.0, rng.lognormal(3, 3, n))
    bars["count"] = rng.integers(0, 10**9, n)
    return bars


def realistic_bars(rng: np.random.Generator, n: int) -> Bars:
    bars = random_bars(rng, n)
    close = 100 + rng.normal(0, 1, n).cumsum()
    bars["open"], bars["high"], bars["low"], bars["close"] = close, close + 1, close - 1, close
    bars["notional"] = bars["volume"] * close
    return bars


def random_values(
    rng: np.random.Generator, by_symbol: dict[str, Bars], columns: list[str], labels: list[str]
) -> ClosedValues:
    counts = np.array([len(rows) for rows in by_symbol.values()], dtype=np.int64)
    n = int(counts.sum())
    return ClosedValues(
        list(by_symbol),
        counts,
        stack(by_symbol.values()),
        {c: floats(rng, n) for c in columns},
        {label: rng.random(n) < rng.choice([rng.random(), 1.0]) for label in labels},  # all ready
    )


def random_batch(
    seed: int, columns: list[str], labels: list[str], make: MakeBars = random_bars
) -> tuple[dict[int | str, dict[str, Bars]], ClosedByInterval]:
    rng = np.random.default_rng(seed)
    closed: dict[int | str, dict[str, Bars]] = {}
    keys: list[int | str] = [1000, 60_000, 3_600_000, 86_400_000, *ACTIVITY]
    for k in rng.choice(len(keys), rng.integers(1, 5), replace=False):
        names = rng.choice(200, rng.integers(1, 40), replace=False)
        most = rng.choice([1, 8])  # one bar a symbol, as a step usually closes, or several
        closed[keys[k]] = {f'S{i}."é\\': make(rng, int(rng.integers(1, most + 1))) for i in names}
    values = {
        ms: random_values(rng, by_symbol, columns, labels) for ms, by_symbol in closed.items()
    }
    return closed, values


ACTIVITY = ["ticks:3", "volume:250.5", "dollars:1000000"]
COLUMNS = ["sma_20", "macd_12_26_9_line", "bbands_2_1.5_2_upper", 'odd "key" \\ é']
LABELS = ["sma_20", "macd_12_26_9", "bbands_2_1.5_2", 'odd "key" \\ é']


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize(("columns", "labels"), [(COLUMNS, LABELS), ([], [])])
def test_records_equal_the_per_bar_reference(
    seed: int, columns: list[str], labels: list[str]
) -> None:
    closed, values = random_batch(seed, columns, labels)
    got = output.partitioned_records(closed, values, lambda s: partition(s, 6))
    assert got == reference(closed, values, 6)


def test_records_decode_to_the_reference_records() -> None:
    closed, values = random_batch(7, COLUMNS, LABELS, realistic_bars)  # prices decode as floats
    for ms, by_symbol in closed.items():
        decode = output.decode_activity if isinstance(ms, str) else output.decode
        decoded = [decode(v) for v in output.closed_records(ms, values[ms])]
        at, ends = values[ms], np.cumsum(values[ms].counts)
        want: list[Any] = []
        for symbol, rows, end in zip(by_symbol, by_symbol.values(), ends, strict=True):
            part = slice(end - len(rows), end)
            columns = {c: v[part] for c, v in at.values.items()}
            flags = {label: r[part] for label, r in at.ready.items()}
            want += reference_records(symbol, ms, rows, columns, flags)
        assert [output.encode(r) for r in decoded] == [output.encode(r) for r in want]


@pytest.mark.parametrize("specs", [indicator_specs(Settings()), parse_specs({})])
def test_the_worker_values_encode_as_the_reference(specs: tuple[IndicatorSpec, ...]) -> None:
    worker = IndicatorWorker(specs, [1000, 60_000], Metrics(CollectorRegistry()))
    rng = np.random.default_rng(3)
    for _ in range(8):  # the longest default lookback (33) passes for some symbols
        closed: dict[int | str, dict[str, Bars]] = {
            1000: {f"S{i}": realistic_bars(rng, int(rng.integers(1, 9))) for i in range(20)},
            60_000: {f"S{i}": realistic_bars(rng, 1) for i in range(0, 20, 3)},
        }
        values = worker.update(closed, {})
        got = output.partitioned_records(closed, values, lambda s: partition(s, 4))
        assert got == reference(closed, values, 4)


class FakeBatch:
    """Holds up to `size` records, as aiokafka's batch holds up to a byte size."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.records: list[tuple[bytes, bytes]] = []

    def append(self, *, key: bytes, value: bytes, timestamp: None) -> object | None:
        if len(self.records) == self.size:
            return None
        self.records.append((key, value))
        return object()


class FakeProducer:
    def __init__(self, partitions: int, batch_size: int) -> None:
        self.partitions, self.batch_size = partitions, batch_size
        self.sent: list[tuple[int, list[tuple[bytes, bytes]]]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self.batch_size)

    async def send_batch(self, batch: FakeBatch, topic: str, partition: int) -> Any:
        self.sent.append((partition, batch.records))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_the_publisher_sends_each_partition_records_in_order() -> None:
    closed, values = random_batch(11, COLUMNS, LABELS)
    producer = FakeProducer(partitions=3, batch_size=5)
    sent = await output.Publisher(producer, "out").publish(closed, values)
    got: Pairs = {}
    for p, records in producer.sent:
        got.setdefault(p, []).extend(records)
    want = output.partitioned_records(closed, values, lambda s: partition_of(s, 3))
    assert got == want and sent == sum(map(len, want.values()))


def test_a_time_bar_ends_where_its_calendar_ends_it() -> None:
    """A New York day across the spring change: 23 hours, not interval_ms."""
    rng = np.random.default_rng(3)
    bars = realistic_bars(rng, 2)
    new_york = pd.Timestamp("2025-03-08 09:30", tz="America/New_York")
    bars["start_ns"] = [new_york.value, (new_york + pd.Timedelta(hours=23)).value]
    values = random_values(rng, {"AAPL": bars}, [], [])
    calendar = Calendar("America/New_York", datetime(2025, 3, 3, 9, 30))
    records = [output.decode(v) for v in output.closed_records(86_400_000, values, calendar)]
    assert [r.interval_ms for r in records] == [86_400_000] * 2
    lengths_h = [(r.end_ns - r.start_ns) / 3_600e9 for r in records]
    assert lengths_h == [23, 24]
