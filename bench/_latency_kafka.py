"""The Kafka side of bench/latency.py's figures: the output records' append times joined
to the send stamps of the ticks that closed their bars, and the Kafka hop alone (the
paced producer read by a bare consumer), the floor under that latency."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from aiokafka import AIOKafkaConsumer

from _broker import FETCH_PARTITION_BYTES, bare_consumer
from _latency_pace import (
    I64,
    INTERVAL_NS,
    PARTITIONS,
    SYMBOLS,
    TIMEOUT_S,
    Pacer,
    PaceSpec,
    now_ms,
    pacer,
    service_gc,
)
from ticksmith import output
from ticksmith.produce.market import symbol_names

HOP_WARM_S = 2.0
FETCH_MAX_RECORDS = 20_000  # kafka.fetch_max_records
LOG_APPEND_TIME_TYPE = 1  # ConsumerRecord.timestamp_type


async def hop_latencies(
    bootstrap: str, spec: PaceSpec, hop_s: float, workdir: Path
) -> npt.NDArray[np.float64]:
    """Send stamp to receipt by a bare consumer (this process, the service's fetch size),
    for the records sent in a window of `hop_s` after HOP_WARM_S: what the way in
    costs before the service does anything."""
    consumer = bare_consumer(bootstrap, spec.topic, PARTITIONS, FETCH_PARTITION_BYTES)
    async with consumer as c, pacer(spec, workdir) as p:
        with service_gc():
            sent, received = await receive_all(c, p)
    lo = p.started_ms + round(HOP_WARM_S * 1000)
    inside = (sent >= lo) & (sent < lo + round(hop_s * 1000))
    return (received - sent)[inside].astype(np.float64)


async def receive_all(consumer: AIOKafkaConsumer, p: Pacer) -> tuple[I64, I64]:
    """Every record's send stamp and the wall clock (ms) when getmany() returned it."""
    finish = asyncio.create_task(p.finish())
    stamps, receipts, count = [np.empty(0, np.int64)], [np.empty(0, np.int64)], 0
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not (finish.done() and count >= finish.result().sent):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bare consumer is stuck at {count:,} records")
            batch = await consumer.getmany(timeout_ms=200, max_records=FETCH_MAX_RECORDS)
            at = now_ms()
            for records in batch.values():
                stamps.append(np.fromiter((r.timestamp for r in records), np.int64, len(records)))
                receipts.append(np.full(len(records), at, dtype=np.int64))
                count += len(records)
    finally:
        finish.cancel()
    return np.concatenate(stamps), np.concatenate(receipts)


async def read_outputs(bootstrap: str, topic: str) -> pd.DataFrame:
    """Every output record: symbol, bar start, broker append time (ms)."""
    rows: list[tuple[str, int, int]] = []
    async with bare_consumer(bootstrap, topic, PARTITIONS) as consumer:
        ends = await consumer.end_offsets(list(consumer.assignment()))
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                rows += [_row(r) for r in records]
    return pd.DataFrame(rows, columns=["symbol", "start_ns", "append_ms"])


def _row(record: Any) -> tuple[str, int, int]:
    if record.timestamp_type != LOG_APPEND_TIME_TYPE:
        raise RuntimeError("output record without LogAppendTime: the topic config was not set")
    bar = output.decode(record.value)
    if bar.interval_ms * 1_000_000 != INTERVAL_NS:
        raise RuntimeError(f"an output bar of {bar.interval_ms} ms: only 1000 ms expected")
    return bar.symbol, bar.start_ns, int(record.timestamp)


def join(
    closers: dict[str, npt.NDArray[Any]], outputs: pd.DataFrame, lo_ms: int, hi_ms: int
) -> tuple[npt.NDArray[np.float64], int, int]:
    """Latencies of the bars closed by ticks sent in the window; how many of those bars
    have no output record; how many output records no tick closed."""
    names = np.asarray(symbol_names(SYMBOLS), dtype=object)
    closed = pd.DataFrame(
        {"symbol": names[closers["symbol"]], "start_ns": closers["start_ns"]}
    ).assign(sent_ms=closers["sent_ms"])
    published = outputs.sort_values("append_ms").drop_duplicates(["symbol", "start_ns"])
    keys = ["symbol", "start_ns"]
    unexplained = len(
        published.merge(closed[keys], on=keys, how="left", indicator=True).query(
            "_merge == 'left_only'"
        )
    )
    inside = closed[(closed["sent_ms"] >= lo_ms) & (closed["sent_ms"] < hi_ms)]
    joined = inside.merge(published, on=keys, how="left")
    missing = int(joined["append_ms"].isna().sum())
    latencies = (joined["append_ms"] - joined["sent_ms"]).dropna().to_numpy(dtype=np.float64)
    return latencies, missing, unexplained
