import time

import numpy as np
import pytest

from tests.bad_records import (
    BAD,
    GOOD,
    GOOD_TICKS,
    KEPT_FROM_BAD,
    MAX_RECORD_BYTES,
    VALUE_CHECKS,
)
from ticksmith.ingest import binary_codec
from ticksmith.ingest.decode import decode
from ticksmith.ingest.reasons import REASONS
from ticksmith.ingest.records import RawRecord
from ticksmith.produce.market import Market, symbol_names
from ticksmith.produce.writer import FORMATS, encode_chunk

SKEW_MS = 3_600_000


def raw(pairs: list[tuple[bytes, bytes]]) -> list[RawRecord]:
    return [RawRecord(0, i, k, v) for i, (k, v) in enumerate(pairs)]


@pytest.mark.parametrize(
    "case", range(len(BAD)), ids=[f"{r}-{i}" for i, (_, _, r) in enumerate(BAD)]
)
def test_each_bad_record_is_rejected_for_its_reason_and_costs_no_neighbour(case: int) -> None:
    key, value, reason = BAD[case]
    decoded = decode(raw([GOOD[0], (key, value), *GOOD[1:]]), MAX_RECORD_BYTES, SKEW_MS)
    assert [(r.index, r.reason) for r in decoded.rejected] == [(1, reason)]
    kept = GOOD_TICKS + (2 if value[:1] == b"\x01" and reason in VALUE_CHECKS else 0)
    assert len(decoded.ticks) == kept
    assert set(decoded.ticks.symbol) == {"AAA"}


def test_every_reason_code_is_exercised() -> None:
    assert {r for _, _, r in BAD} == set(REASONS) - {
        "late",
        "symbol_limit",
        "unreadable",
    }  # not the decoder


def test_all_bad_records_at_once() -> None:
    decoded = decode(raw([*GOOD, *[(k, v) for k, v, _ in BAD]]), MAX_RECORD_BYTES, SKEW_MS)
    assert [r.reason for r in decoded.rejected] == [r for _, _, r in BAD]
    assert len(decoded.ticks) == GOOD_TICKS + KEPT_FROM_BAD


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_decodes_to_the_ticks_that_were_encoded(fmt: str) -> None:
    ticks = Market(symbol_names(7), seed=2, start_ns=time.time_ns()).chunk(3_000)
    decoded = decode(raw(encode_chunk(ticks, fmt, batch_size=50)), 1 << 20, SKEW_MS)  # type: ignore[arg-type]
    assert decoded.rejected == []
    for symbol, group in ticks.groupby("symbol"):
        mine = decoded.ticks.symbol == symbol
        np.testing.assert_array_equal(decoded.ticks.ts_ns[mine], group["ts"])
        np.testing.assert_array_equal(decoded.ticks.price[mine], group["price"])
        np.testing.assert_array_equal(decoded.ticks.size[mine], group["size"])
        np.testing.assert_array_equal(
            decoded.ticks.side[mine], (group["side"] == "S").astype(np.int8)
        )


def test_mixed_formats_keep_partition_order() -> None:
    ticks = Market(symbol_names(1), seed=3, start_ns=time.time_ns()).chunk(40)
    js, bs = encode_chunk(ticks, "json"), encode_chunk(ticks, "binary")
    mixed = [js[i] if i % 3 else bs[i] for i in range(40)]
    decoded = decode(raw(mixed), 1 << 20, SKEW_MS)
    np.testing.assert_array_equal(decoded.ticks.ts_ns, ticks["ts"])
    np.testing.assert_array_equal(decoded.ticks.offset, np.arange(40))


def test_binary_records_carry_their_offsets_for_each_tick() -> None:
    rows = np.zeros(4, dtype=binary_codec.TICK)
    rows["ts_ns"], rows["price"], rows["size"] = time.time_ns(), 1.0, 1.0
    records = [
        RawRecord(3, 100 + i, b"X", binary_codec.encode("X", rows[: i + 1])) for i in range(3)
    ]
    decoded = decode(records, 1 << 20, SKEW_MS)
    assert decoded.ticks.offset.tolist() == [100, 101, 101, 102, 102, 102]
    assert set(decoded.ticks.partition.tolist()) == {3}


def _fastest_decode_s(records: list[RawRecord]) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        decode(records, 1 << 20, SKEW_MS)
        best = min(best, time.perf_counter() - started)
    return best


def test_an_over_long_key_costs_no_more_than_a_short_one() -> None:
    """The key table was sized by the longest key: one 64 KiB key among 1,000 binary
    records cost ~100 times a normal fetch. Keys over 255 bytes can match no symbol."""
    ticks = Market(symbol_names(20), seed=4, start_ns=time.time_ns()).chunk(1_000)
    records = raw(encode_chunk(ticks, "binary"))
    long_key = [*records[:-1], RawRecord(0, 999, b"K" * 65_536, records[-1].value)]
    decoded = decode(long_key, 1 << 20, SKEW_MS)
    assert [(r.index, r.reason) for r in decoded.rejected] == [(999, "key_mismatch")]
    assert _fastest_decode_s(long_key) < 3 * _fastest_decode_s(records) + 0.002


def _stamped(ts_ns: int, record_ms: int) -> RawRecord:
    value = b'{"symbol":"A","ts":%d,"price":1.5,"size":1,"side":"B"}' % ts_ns
    return RawRecord(0, 0, b"A", value, timestamp=record_ms)


def test_future_skew_is_measured_from_the_records_own_timestamp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A replay decides as live did: the wall clock at decode time plays no part."""
    hour_ms = 3_600_000
    produced_ms = 1_700_000_000_000  # Nov 2023
    ahead = _stamped((produced_ms + 2 * hour_ms) * 10**6, produced_ms)
    within = _stamped((produced_ms + hour_ms // 2) * 10**6, produced_ms)
    for now_ns in (produced_ms * 10**6, time.time_ns(), (produced_ms + 10 * hour_ms) * 10**6):
        monkeypatch.setattr(time, "time_ns", lambda now=now_ns: now)
        decoded = decode([ahead, within], 1 << 20, hour_ms)
        assert [(r.index, r.reason) for r in decoded.rejected] == [(0, "bad_timestamp")]
        assert decoded.ticks.ts_ns.tolist() == [(produced_ms + hour_ms // 2) * 10**6]


def test_a_record_without_a_timestamp_is_measured_from_the_wall_clock() -> None:
    now_ms = time.time_ns() // 1_000_000
    records = [_stamped((now_ms + 7_200_000) * 10**6, -1), _stamped(now_ms * 10**6, -1)]
    decoded = decode(records, 1 << 20, 3_600_000)
    assert [(r.index, r.reason) for r in decoded.rejected] == [(0, "bad_timestamp")]


def test_an_absurd_record_timestamp_is_no_overflow() -> None:
    ts_ns = 2**62
    records = [_stamped(ts_ns, 2**62), _stamped(ts_ns, 2**63 - 1)]
    decoded = decode(records, 1 << 20, 2**40)
    assert decoded.ticks.ts_ns.tolist() == [ts_ns, ts_ns]


def test_the_event_time_floor_is_a_setting() -> None:
    ts_1995 = 788_918_400 * 10**9
    records = [_stamped(ts_1995, -1), _stamped(ts_1995 - 1, -1)]
    default = decode(records, 1 << 20, SKEW_MS)
    assert [r.reason for r in default.rejected] == ["bad_timestamp", "bad_timestamp"]
    historic = decode(records, 1 << 20, SKEW_MS, min_event_time_ns=ts_1995)
    assert [(r.index, r.reason) for r in historic.rejected] == [(1, "bad_timestamp")]
    assert historic.ticks.ts_ns.tolist() == [ts_1995]


def _json_tick(symbol: str, ts_ns: int) -> bytes:
    return b'{"symbol":"%s","ts":%d,"price":1.5,"size":1,"side":"B"}' % (symbol.encode(), ts_ns)


@pytest.mark.parametrize("value", [b"", b" ", b"\n\t", None])
def test_a_lone_empty_json_record_is_rejected_not_lost(value: bytes | None) -> None:
    """Found by the fuzzer: alone, "[" + b"" + "]" parsed as no ticks at all."""
    decoded = decode([RawRecord(0, 7, b"A", value)], 1 << 20, SKEW_MS)
    assert [(r.index, r.reason) for r in decoded.rejected] == [(0, "invalid_json")]
    assert len(decoded.ticks) == 0 and len(decoded.ticks.offset) == 0


def test_json_records_cannot_borrow_each_others_ticks() -> None:
    """Found by the fuzzer: the values were parsed as one joined list, so a record of two
    comma-joined ticks raised (a crash-loop), and one whose string ran on into the
    next record merged the two; with a blank record to even the count, ticks moved
    to a neighbour's offset."""
    now = time.time_ns()
    two = _json_tick("A", now) + b"," + _json_tick("B", now)
    halves = (b'{"symbol":"A}', b'{","ts":%d,"price":1.5,"size":1,"side":"B"}' % now)
    fetches = [
        [two, _json_tick("C", now)],
        [two, b" "],
        [*halves, two],
    ]
    for values in fetches:
        records = [RawRecord(0, i, b"B", v) for i, v in enumerate(values)]
        decoded = decode(records, 1 << 20, SKEW_MS)
        alone = [decode([r], 1 << 20, SKEW_MS) for r in records]
        assert [(r.index, r.reason) for r in decoded.rejected] == [
            (i, a.rejected[0].reason) for i, a in enumerate(alone) if a.rejected
        ]
        assert decoded.ticks.offset.tolist() == [
            r.offset for r, a in zip(records, alone, strict=True) if len(a.ticks)
        ]


def test_a_record_is_rejected_for_its_first_failing_tick() -> None:
    rows = np.zeros(4, dtype=binary_codec.TICK)
    rows["ts_ns"], rows["price"], rows["size"] = time.time_ns(), 1.0, 1.0
    rows["size"][1], rows["price"][2], rows["side"][3] = -1.0, np.nan, 9
    good = RawRecord(0, 0, b"X", binary_codec.encode("X", rows[:1]))
    decoded = decode(
        [good, RawRecord(0, 1, b"X", binary_codec.encode("X", rows))], 1 << 20, SKEW_MS
    )
    assert [(r.index, r.reason, r.detail) for r in decoded.rejected] == [
        (1, "bad_size", "tick 1: size=-1.0")
    ]
    assert decoded.ticks.offset.tolist() == [0, 1]  # the bad record's good tick is kept


def test_a_record_of_many_bad_ticks_costs_no_python_per_tick() -> None:
    rows = np.zeros(40_000, dtype=binary_codec.TICK)
    rows["ts_ns"], rows["price"], rows["size"] = time.time_ns(), 1.0, 1.0
    good = [RawRecord(0, 0, b"X", binary_codec.encode("X", rows))]
    rows["price"] = -1.0
    bad = [RawRecord(0, 0, b"X", binary_codec.encode("X", rows))]
    assert [r.reason for r in decode(bad, 1 << 21, SKEW_MS).rejected] == ["bad_price"]
    assert _fastest_decode_s(bad) < 3 * _fastest_decode_s(good) + 0.002
