"""`ticksmith produce`: write the synthetic market to Kafka at a rate or flat out."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from aiokafka import AIOKafkaProducer

from ticksmith.ingest import binary_codec, json_codec
from ticksmith.produce.market import Market, symbol_names

CHUNK = 2_000
Format = Literal["json", "binary", "binary-batch"]
FORMATS: tuple[Format, ...] = ("json", "binary", "binary-batch")


@dataclass(frozen=True)
class ProduceSpec:
    topic: str
    symbols: int = 100
    rate: float = 0.0  # ticks per second; 0 = as fast as possible
    count: int | None = None
    duration_s: float | None = None
    seed: int = 0
    progress: bool = True
    fmt: Format = "json"
    batch_size: int = 100


def encode_chunk(
    ticks: pd.DataFrame, fmt: Format = "json", batch_size: int = 100
) -> list[tuple[bytes, bytes]]:
    """(key, value) records; the key is the symbol, so a symbol stays in one partition.

    json and binary: one tick per record. binary-batch: up to `batch_size` ticks of
    one symbol per record, in event order.
    """
    if fmt == "json":
        return _json(ticks)
    rows = _binary_rows(ticks)
    if fmt == "binary":
        symbols = ticks["symbol"].to_numpy()
        return [
            (s.encode(), binary_codec.encode(s, rows[i : i + 1])) for i, s in enumerate(symbols)
        ]
    records = []
    for symbol, index in ticks.groupby("symbol", sort=False).indices.items():
        for lo in range(0, len(index), batch_size):
            part = rows[index[lo : lo + batch_size]]
            records.append((symbol.encode(), binary_codec.encode(symbol, part)))
    return records


def _json(ticks: pd.DataFrame) -> list[tuple[bytes, bytes]]:
    columns = (ticks[c].tolist() for c in ("symbol", "ts", "price", "size", "side"))
    return [
        (s.encode(), json_codec.encode(s, t, p, z, d))
        for s, t, p, z, d in zip(*columns, strict=True)
    ]


def _binary_rows(ticks: pd.DataFrame) -> npt.NDArray[np.void]:
    rows = np.empty(len(ticks), dtype=binary_codec.TICK)
    rows["ts_ns"] = ticks["ts"].to_numpy()
    rows["price"] = ticks["price"].to_numpy()
    rows["size"] = ticks["size"].to_numpy()
    rows["side"] = (ticks["side"].to_numpy() == "S").astype(np.uint8)
    return rows


async def send_all(
    producer: AIOKafkaProducer, topic: str, records: list[tuple[bytes, bytes]]
) -> None:
    """Send and wait until the broker acknowledged every record."""
    futures = [await producer.send(topic, value=v, key=k) for k, v in records]
    await asyncio.gather(*futures)


async def produce(producer: AIOKafkaProducer, spec: ProduceSpec, stop: asyncio.Event) -> int:
    """Write ticks until the count, the duration or `stop`; return how many were acknowledged."""
    # Paced: event time follows the wall clock. Flat out: a synthetic 10 µs clock.
    spacing_ns = int(1e9 / spec.rate) if spec.rate > 0 else 10_000
    market = Market(
        symbol_names(spec.symbols), seed=spec.seed, start_ns=time.time_ns(), spacing_ns=spacing_ns
    )
    started = time.monotonic()
    sent = 0
    while not stop.is_set() and not _done(spec, sent, time.monotonic() - started):
        n = CHUNK if spec.count is None else min(CHUNK, spec.count - sent)
        await send_all(
            producer, spec.topic, encode_chunk(market.chunk(n), spec.fmt, spec.batch_size)
        )
        sent += n
        await _pace(spec.rate, sent, started)
        if spec.progress:
            _show(sent, time.monotonic() - started)
    if spec.progress:
        print(file=sys.stderr)
    return sent


def _done(spec: ProduceSpec, sent: int, elapsed: float) -> bool:
    return (spec.count is not None and sent >= spec.count) or (
        spec.duration_s is not None and elapsed >= spec.duration_s
    )


async def _pace(rate: float, sent: int, started: float) -> None:
    if rate > 0:
        ahead = sent / rate - (time.monotonic() - started)
        if ahead > 0:
            await asyncio.sleep(ahead)


def _show(sent: int, elapsed: float) -> None:
    rate = sent / elapsed if elapsed > 0 else 0.0
    print(
        f"\rproduced {sent:>12,} ticks  {rate:>10,.0f} ticks/s", end="", file=sys.stderr, flush=True
    )
