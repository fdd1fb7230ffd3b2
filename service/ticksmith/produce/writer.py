"""`ticksmith produce`: write the synthetic market to Kafka at a rate or flat out."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass

import pandas as pd
from aiokafka import AIOKafkaProducer

from ticksmith.ingest.json_codec import encode_tick
from ticksmith.produce.market import Market, symbol_names

CHUNK = 2_000


@dataclass(frozen=True)
class ProduceSpec:
    topic: str
    symbols: int = 100
    rate: float = 0.0  # ticks per second; 0 = as fast as possible
    count: int | None = None
    duration_s: float | None = None
    seed: int = 0
    progress: bool = True


def encode_chunk(ticks: pd.DataFrame) -> list[tuple[bytes, bytes]]:
    """(key, value) per tick; the key is the symbol, so a symbol stays in one partition."""
    rows = zip(
        ticks["symbol"], ticks["ts"], ticks["price"], ticks["size"], ticks["side"], strict=True
    )
    return [(s.encode(), encode_tick(s, int(t), float(p), float(z), d)) for s, t, p, z, d in rows]


async def send_all(
    producer: AIOKafkaProducer, topic: str, records: list[tuple[bytes, bytes]]
) -> None:
    """Send and wait until the broker acknowledged every record."""
    futures = [await producer.send(topic, value=v, key=k) for k, v in records]
    await asyncio.gather(*futures)


async def produce(producer: AIOKafkaProducer, spec: ProduceSpec, stop: asyncio.Event) -> int:
    """Write ticks until the count, the duration or `stop`; return how many were acknowledged."""
    # Paced: event time follows the wall clock. Flat out: a synthetic 1 ms clock.
    spacing_ns = int(1e9 / spec.rate) if spec.rate > 0 else 1_000_000
    market = Market(
        symbol_names(spec.symbols), seed=spec.seed, start_ns=time.time_ns(), spacing_ns=spacing_ns
    )
    started = time.monotonic()
    sent = 0
    while not stop.is_set() and not _done(spec, sent, time.monotonic() - started):
        n = CHUNK if spec.count is None else min(CHUNK, spec.count - sent)
        await send_all(producer, spec.topic, encode_chunk(market.chunk(n)))
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
