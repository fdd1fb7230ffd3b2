"""Property test of the decoder on hostile input (issue 11, build 5).

Fetches mix good records of every format (JSON, binary, binary batch) with
arbitrary or mangled values, keys, headers and timestamps, as aiokafka's own
ConsumerRecord. Whatever comes in, decode() never raises, each rejected record
has exactly one reason, a record's verdict and ticks in the fetch are exactly
those it gets decoded alone, good records come out as they were encoded, and the
dead letter of any record fits the producer's limit.

TICKSMITH_FUZZ_EXAMPLES sets how many fetches to try (default 300); run with
``--hypothesis-show-statistics`` to see which reasons were hit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import pytest
from aiokafka import ConsumerRecord
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ticksmith.ingest import binary_codec, json_codec
from ticksmith.ingest.dead_letter import fit
from ticksmith.ingest.decode import Decoded, decode
from ticksmith.ingest.reasons import REASONS
from ticksmith.ticks import SIDES

NOW_MS = 1_764_000_000_000  # every good record's Kafka timestamp
SKEW_MS = 3_600_000
MAX_RECORD_BYTES = 4_096
EXAMPLES = int(os.environ.get("TICKSMITH_FUZZ_EXAMPLES", "300"))
Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


@dataclass(frozen=True)
class Tick:
    symbol: str
    ts_ns: int
    price: float
    size: float
    side: int


@dataclass(frozen=True)
class Case:
    record: Record
    ticks: tuple[Tick, ...] | None  # what a good record must decode to; None: anything


def record(
    offset: int,
    key: bytes | None,
    value: bytes | None,
    timestamp: int = NOW_MS,
    headers: Sequence[tuple[str, bytes | None]] = (),
) -> Record:
    return ConsumerRecord(
        "ticks",
        0,
        offset,
        timestamp,
        0,
        key,
        value,
        None,
        -1,
        -1,
        headers,
    )


symbols = st.text(min_size=1, max_size=12).filter(
    lambda s: len(s.encode()) <= 255
) | st.sampled_from(["AAA", "B", "SYM0001", "é" * 127, "x" * 255])
ticks = st.builds(
    Tick,
    symbol=st.just(""),
    ts_ns=st.integers(946_684_800 * 10**9, (NOW_MS + SKEW_MS) * 10**6),
    price=st.floats(min_value=1e-300, max_value=1e300),
    size=st.floats(min_value=0, max_value=1e300),
    side=st.integers(0, 1),
)


@st.composite
def good(draw: st.DrawFn) -> tuple[bytes, bytes, tuple[Tick, ...]]:
    symbol = draw(symbols)
    fmt = draw(st.sampled_from(["json", "binary", "binary-batch"]))
    n = draw(st.integers(1, 5)) if fmt == "binary-batch" else 1
    made = tuple(
        Tick(symbol, t.ts_ns, t.price, t.size, t.side)
        for t in draw(st.lists(ticks, min_size=n, max_size=n))
    )
    if fmt == "json":
        t = made[0]
        value = json_codec.encode(symbol, t.ts_ns, t.price, t.size, SIDES[t.side])
    else:
        rows = np.array([(t.ts_ns, t.price, t.size, t.side) for t in made], dtype=binary_codec.TICK)
        value = binary_codec.encode(symbol, rows)
    return symbol.encode(), value, made


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    """A good value broken the ways real producers and attackers break them."""
    _, value, _ = draw(good())
    how = draw(st.sampled_from(["flip", "cut", "grow", "splice", "join", "blank"]))
    if how == "flip":
        at = draw(st.integers(0, len(value) - 1))
        return value[:at] + bytes([value[at] ^ draw(st.integers(1, 255))]) + value[at + 1 :]
    if how == "cut":
        return value[: draw(st.integers(0, len(value) - 1))]
    if how == "grow":
        return value + draw(st.binary(min_size=1, max_size=40))
    if how == "splice":
        _, other, _ = draw(good())
        return value[: len(value) // 2] + other[len(other) // 2 :]
    if how == "join":
        _, other, _ = draw(good())
        return value + draw(st.sampled_from([b",", b" ", b"\n", b""])) + other
    return draw(st.sampled_from([b"", b" ", b"\n", b"{}", b"[]", b"null", b"\x01", b"\x00"]))


keys = st.none() | st.binary(max_size=20) | st.sampled_from([b"AAA", b"", b"K" * 300, b"\xff"])
headers = st.lists(st.tuples(st.text(max_size=10), st.binary(max_size=30) | st.none()), max_size=3)
timestamps = st.just(NOW_MS) | st.integers(-(2**63), 2**63 - 1) | st.sampled_from([-1, 0])


wild_ticks = st.tuples(
    st.integers(-(2**63), 2**63 - 1), st.floats(), st.floats(), st.integers(0, 255)
)


@st.composite
def wild(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A well-formed record (its key matching its symbol) with any field values:
    empty or over-long symbols, NaN, infinite, negative, absurd times, odd sides."""
    symbol = draw(st.text(max_size=8) | st.sampled_from(["", "é" * 128, "s" * 256]))
    rows = draw(st.lists(wild_ticks, min_size=1, max_size=4))
    if draw(st.booleans()):
        ts, price, size, _ = rows[0]
        ts = draw(st.just(ts) | st.integers(-(2**70), 2**70))
        side = draw(st.sampled_from(["B", "S", "", "b", "X"]))
        return symbol.encode(), json_codec.encode(symbol, ts, price, size, side)
    name = symbol.encode()[:255]  # may end inside a character: not UTF-8
    body = np.array(rows, dtype=binary_codec.TICK).tobytes()
    return name, bytes((1, len(name))) + name + len(rows).to_bytes(4, "little") + body


BAD_VALUES: dict[str, st.SearchStrategy[bytes | None]] = {
    "arbitrary": st.binary(max_size=200) | st.none(),
    "mangled": mangled(),
    "huge": st.integers(MAX_RECORD_BYTES - 10, MAX_RECORD_BYTES + 10).map(lambda n: b"{" * n),
}


@st.composite
def cases(draw: st.DrawFn, offset: int) -> Case:
    kind = draw(st.sampled_from(["good", "good", "good", "wild", "arbitrary", "mangled", "huge"]))
    if kind == "good":
        key, value, made = draw(good())
        return Case(record(offset, key, value), made)
    if kind == "wild":
        key, value = draw(wild())
        return Case(record(offset, key, value, draw(timestamps)), None)
    bad = draw(BAD_VALUES[kind])
    rec = record(offset, draw(keys), bad, draw(timestamps), headers=draw(headers))
    return Case(rec, None)


@st.composite
def fetches(draw: st.DrawFn) -> list[Case]:
    n = draw(st.integers(1, 24))
    return [draw(cases(offset)) for offset in range(n)]


def ticks_of(decoded: Decoded, offset: int) -> list[tuple[object, ...]]:
    t = decoded.ticks
    mine = np.flatnonzero(t.offset == offset)
    columns = (t.symbol[mine], t.ts_ns[mine], t.price[mine], t.size[mine], t.side[mine])
    return [
        tuple(x.item() if hasattr(x, "item") else x for x in row)
        for row in zip(*columns, strict=True)
    ]


def one(records: list[Record]) -> Decoded:
    return decode(records, MAX_RECORD_BYTES, SKEW_MS)


@pytest.mark.timeout(max(180, EXAMPLES // 20))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fetches())
def test_decode_survives_any_fetch_and_no_record_changes_another(fetch: list[Case]) -> None:
    records = [c.record for c in fetch]
    decoded = one(records)
    indices = [r.index for r in decoded.rejected]
    assert indices == sorted(set(indices)), "at most one reason per record"
    verdict = {r.index: r.reason for r in decoded.rejected}
    for reason in verdict.values():
        assert reason in REASONS
        event(f"reason: {reason}")
    for i, case in enumerate(fetch):
        alone = one([case.record])
        assert [r.reason for r in alone.rejected] == ([verdict[i]] if i in verdict else [])
        mine = ticks_of(decoded, case.record.offset)
        assert mine == ticks_of(alone, case.record.offset)
        if case.ticks is not None:
            assert i not in verdict, decoded.rejected
            assert mine == [(t.symbol, t.ts_ns, t.price, t.size, t.side) for t in case.ticks]
        elif i not in verdict and not mine:
            assert _empty_binary_batch(case.record.value), "a record neither used nor rejected"
        letter = fit(case.record.key, case.record.value, list(case.record.headers), [], 1_200)
        assert (
            DefaultRecordBatchBuilder.estimate_size_in_bytes(
                letter.key, letter.value, letter.headers
            )
            <= 1_200
        )


def _empty_binary_batch(value: bytes | None) -> bool:
    """A well-formed binary record of no ticks: nothing to use, nothing wrong."""
    if not value or len(value) < 6:
        return False
    return value[0] == 1 and len(value) == 6 + value[1] and value[-4:] == bytes(4)
