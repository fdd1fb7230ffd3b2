"""The output topic: one record per (symbol, interval, bar end), key = symbol.

Values are JSON built only from the bar (and, later, its indicators), so a
replayed bar produces a byte-identical record: duplicates are harmless and
detectable by key and `end_ns`.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import msgspec
from aiokafka import AIOKafkaProducer

from ticksmith.indicators.live import BarValues, Values
from ticksmith.ingest.ownership import partition_of
from ticksmith.store.bars import Bars, vwap


class BarRecord(msgspec.Struct):
    symbol: str
    interval_ms: int
    start_ns: int
    end_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float | None
    count: int
    indicators: dict[str, float | None] = {}
    ready: dict[str, bool] = {}


_encoder = msgspec.json.Encoder()


def bar_records(
    symbol: str, interval_ms: int, rows: Bars, values: BarValues | None = None
) -> list[BarRecord]:
    records = _bars(symbol, interval_ms, rows)
    if values is not None:
        for i, record in enumerate(records):
            record.indicators = {c: _number(v[i]) for c, v in values.values.items()}
            record.ready = {label: bool(r[i]) for label, r in values.ready.items()}
    return records


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _bars(symbol: str, interval_ms: int, rows: Bars) -> list[BarRecord]:
    interval_ns = interval_ms * 1_000_000
    prices = vwap(rows)
    return [
        BarRecord(
            symbol,
            interval_ms,
            int(r["start_ns"]),
            int(r["start_ns"]) + interval_ns,
            float(r["open"]),
            float(r["high"]),
            float(r["low"]),
            float(r["close"]),
            float(r["volume"]),
            None if math.isnan(p) else float(p),
            int(r["count"]),
        )
        for r, p in zip(rows, prices, strict=True)
    ]


def encode(record: BarRecord) -> bytes:
    return _encoder.encode(record)


def decode(value: bytes) -> BarRecord:
    return msgspec.json.decode(value, type=BarRecord)


class Publisher:
    """Sends output records; :meth:`publish` returns once the broker acknowledged all.

    Records are appended to one batch per partition and sent as batches: a
    per-record ``send()`` costs more than building the record. The partition is
    the default partitioner's (murmur2 of the key), computed once per symbol.
    """

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic
        self._partition_of: dict[str, int] = {}
        self._partitions = 0

    async def publish(self, closed: dict[int, dict[str, Bars]], values: Values) -> int:
        """Send every closed bar (interval_ms -> symbol -> bars) with its indicator
        values; wait for the broker's acks."""
        if not self._partitions and closed:
            self._partitions = len(await self._producer.partitions_for(self._topic))
        by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
        for interval_ms, by_symbol in closed.items():
            for symbol, rows in by_symbol.items():
                key = symbol.encode()
                out = by_partition.setdefault(self._partition(symbol), [])
                extra = values.get(interval_ms, {}).get(symbol)
                out += [(key, encode(r)) for r in bar_records(symbol, interval_ms, rows, extra)]
        futures = [f for p, recs in by_partition.items() for f in await self._send(p, recs)]
        await asyncio.gather(*futures)
        return sum(len(recs) for recs in by_partition.values())

    def _partition(self, symbol: str) -> int:
        partition = self._partition_of.get(symbol)
        if partition is None:
            partition = self._partition_of[symbol] = partition_of(symbol, self._partitions)
        return partition

    async def _send(self, partition: int, records: list[tuple[bytes, bytes]]) -> list[Any]:
        futures = []
        batch = self._producer.create_batch()
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: ship it
                futures.append(await self._send_batch(batch, partition))
                batch = self._producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        futures.append(await self._send_batch(batch, partition))
        return futures

    async def _send_batch(self, batch: Any, partition: int) -> Any:
        return await self._producer.send_batch(batch, self._topic, partition=partition)
