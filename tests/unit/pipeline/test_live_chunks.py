"""A live batch is decoded a chunk at a time, each chunk applied and its records
handed to the producer before the next is decoded, so the bars of a large
batch's first ticks do not wait for the rest to be decoded; what it publishes
and dead-letters equals applying the batch decoded at once."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from prometheus_client import CollectorRegistry

from ticksmith.app import build_parts
from ticksmith.config import Settings
from ticksmith.ingest.decode import decode
from ticksmith.pipeline import batch as batch_module
from ticksmith.pipeline.batch import BatchEffects
from ticksmith.produce.market import Market, symbol_names
from ticksmith.produce.writer import encode_chunk

pytestmark = pytest.mark.timeout(60)
TP = TopicPartition("ticks", 0)
BAD = {150, 2_600, 4_100}  # offsets of records that are not ticks


def fetched(n: int) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
    """`n` json ticks of 20 symbols, 1 ms apart (bars of 1 s close every ~1,000)."""
    market = Market(symbol_names(20), seed=1, spacing_ns=1_000_000)
    pairs = encode_chunk(market.chunk(n), "json")
    now_ms, out = time.time_ns() // 1_000_000, []
    for i, (k, v) in enumerate(pairs):
        value = b"{not json" if i in BAD else v
        out.append(ConsumerRecord("ticks", 0, i, now_ms, 0, k, value, None, len(k), len(value), ()))
    return {TP: out}


@dataclass
class Log:
    events: list[tuple[str, int]] = field(default_factory=list)
    bars: list[bytes] = field(default_factory=list)
    dead: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class FakePublisher:
    log: Log

    async def send(self, closed: Any, values: Any) -> tuple[int, asyncio.Future[None]]:
        n = 0
        for key, by_symbol in closed.items():
            at = values[key]
            for symbol, bars in by_symbol.items():
                self.log.bars.append(symbol.encode() + bars.tobytes())
                n += len(bars)
            self.log.bars += [c.tobytes() for c in at.values.values()]
        self.log.events.append(("send", n))
        return n, _done()


@dataclass
class FakeDeadLetters:
    log: Log

    async def enqueue(self, rejects: list[Any]) -> asyncio.Future[None]:
        self.log.dead += [(record.offset, reason) for record, reason, _ in rejects]
        return _done()


def _done() -> asyncio.Future[None]:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


def effects(log: Log) -> BatchEffects:
    settings = Settings()
    metrics, store, worker, _ = build_parts(settings, CollectorRegistry())
    publisher: Any = FakePublisher(log)
    dead_letters: Any = FakeDeadLetters(log)
    effects = BatchEffects(
        store, worker, publisher, dead_letters, metrics, settings.ingest, forget=lambda _: None
    )
    decode = effects._decode

    def logged(records: Any, runs: Any = None) -> Any:
        log.events.append(("decode", len(records)))
        return decode(records, runs)

    effects._decode = logged  # type: ignore[method-assign]
    return effects


async def test_a_chunk_is_published_before_the_next_is_decoded_and_all_equals_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch = fetched(5_000)
    chunked = Log()
    await effects(chunked).live(batch, set())
    monkeypatch.setattr(batch_module, "DECODE_RECORDS", 1_000_000)
    at_once = Log()
    await effects(at_once).live(batch, set())

    decodes = [i for i, (what, _) in enumerate(chunked.events) if what == "decode"]
    assert [n for what, n in chunked.events if what == "decode"] == [2_048, 2_048, 904]
    first_bars = next(i for i, (what, n) in enumerate(chunked.events) if what == "send" and n)
    assert first_bars < decodes[1]  # the first chunk's bars left before the second decode
    assert [e for e in at_once.events if e[0] == "decode"] == [("decode", 5_000)]
    assert sum(n for what, n in chunked.events if what == "send") > 40
    assert chunked.bars == at_once.bars
    assert (
        sorted(chunked.dead) == sorted(at_once.dead) == [(o, "invalid_json") for o in sorted(BAD)]
    )


async def test_a_batch_with_a_partition_waiting_for_its_floor_is_decoded_at_once() -> None:
    """The floor is the partition's earliest tick in the whole batch."""
    log, batch, floors = Log(), fetched(5_000), {TP}
    e = effects(log)
    await e.live(batch, floors)
    assert log.events[:3] == [("decode", 2_048), ("decode", 2_048), ("decode", 904)]
    settings = Settings().ingest
    whole = decode(batch[TP], settings.max_record_bytes, settings.max_future_skew_ms)
    assert not floors
    assert e.store.replay_floor_ns[0] == int(whole.ticks.ts_ns.min())
