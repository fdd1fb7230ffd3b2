"""JSON ticks, decoded a whole fetch at a time.

The happy path is one msgspec call over the joined batch; only when that fails
are records decoded one by one, to pin the failure on the records that caused it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import numpy as np
import numpy.typing as npt

from ticksmith.ingest.reasons import Reason
from ticksmith.ticks import SIDES, TickBatch

TS_MIN_NS = 946_684_800 * 10**9  # 2000-01-01
TS_MAX_NS = 4_102_444_800 * 10**9  # 2100-01-01


class JsonTick(msgspec.Struct, forbid_unknown_fields=True):
    symbol: str
    ts: int
    price: float
    size: float
    side: str


@dataclass(frozen=True, slots=True)
class RawRecord:
    """The parts of a Kafka record the decoder needs."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Rejected:
    index: int  # position in the input sequence
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class Decoded:
    ticks: TickBatch
    rejected: list[Rejected]


_batch_decoder = msgspec.json.Decoder(list[JsonTick])
_one_decoder = msgspec.json.Decoder(JsonTick)


def encode_tick(symbol: str, ts_ns: int, price: float, size: float, side: str) -> bytes:
    return msgspec.json.encode(JsonTick(symbol, ts_ns, price, size, side))


def decode(records: Sequence[RawRecord], max_record_bytes: int) -> Decoded:
    """Decode records to tick columns; every record either yields a tick or a Rejected."""
    rejected = [
        Rejected(i, "too_large", f"{len(r.value or b'')} bytes > {max_record_bytes}")
        for i, r in enumerate(records)
        if len(r.value or b"") > max_record_bytes
    ]
    skip = {r.index for r in rejected}
    index = [i for i in range(len(records)) if i not in skip]
    ticks, index, bad = _parse([records[i].value or b"" for i in index], index)
    rejected += bad
    batch, invalid = _validate(ticks, [records[i] for i in index])
    rejected += [Rejected(index[i], reason, detail) for i, reason, detail in invalid]
    keep = np.ones(len(index), dtype=bool)
    keep[[i for i, _, _ in invalid]] = False
    return Decoded(batch.take(keep), sorted(rejected, key=lambda r: r.index))


def _parse(
    values: list[bytes], index: list[int]
) -> tuple[list[JsonTick], list[int], list[Rejected]]:
    try:
        return _batch_decoder.decode(b"[" + b",".join(values) + b"]"), index, []
    except (msgspec.DecodeError, UnicodeDecodeError):
        pass
    ticks, kept, bad = [], [], []
    for i, value in zip(index, values, strict=True):
        try:
            ticks.append(_one_decoder.decode(value))
            kept.append(i)
        except msgspec.ValidationError as exc:
            bad.append(Rejected(i, "schema", str(exc)))
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            bad.append(Rejected(i, "invalid_json", str(exc)))
    return ticks, kept, bad


def _validate(
    ticks: list[JsonTick], records: list[RawRecord]
) -> tuple[TickBatch, list[tuple[int, Reason, str]]]:
    """Columns from structs, then every value check done over whole columns."""
    batch = TickBatch(
        symbol=np.array([t.symbol for t in ticks], dtype=object),
        ts_ns=_timestamps(ticks),
        price=np.array([t.price for t in ticks], dtype=np.float64),
        size=np.array([t.size for t in ticks], dtype=np.float64),
        side=_side_codes(np.array([t.side for t in ticks], dtype=object)),
        partition=np.array([r.partition for r in records], dtype=np.int32),
        offset=np.array([r.offset for r in records], dtype=np.int64),
    )
    keys = np.array([r.key for r in records], dtype=object)
    checks: list[tuple[Reason, npt.NDArray[np.bool_]]] = [
        ("bad_price", ~(np.isfinite(batch.price) & (batch.price > 0))),
        ("bad_size", ~(np.isfinite(batch.size) & (batch.size >= 0))),
        ("bad_side", batch.side < 0),
        ("bad_timestamp", (batch.ts_ns < TS_MIN_NS) | (batch.ts_ns >= TS_MAX_NS)),
        ("key_mismatch", _key_mismatch(keys, batch.symbol)),
    ]
    invalid: list[tuple[int, Reason, str]] = []
    flagged = np.zeros(len(ticks), dtype=bool)
    for reason, mask in checks:
        for i in np.flatnonzero(mask & ~flagged):
            invalid.append((int(i), reason, _detail(reason, ticks[i], records[i])))
        flagged |= mask
    return batch, invalid


def _timestamps(ticks: list[JsonTick]) -> npt.NDArray[np.int64]:
    try:
        return np.array([t.ts for t in ticks], dtype=np.int64)
    except OverflowError:  # beyond int64: clip to a value the range check rejects
        return np.array([min(max(t.ts, -1), 2**63 - 1) for t in ticks], dtype=np.int64)


def _side_codes(sides: npt.NDArray[np.object_]) -> npt.NDArray[np.int8]:
    codes = np.full(len(sides), -1, dtype=np.int8)
    for code, name in enumerate(SIDES):
        codes[sides == name] = code
    return codes


def _key_mismatch(
    keys: npt.NDArray[np.object_], symbols: npt.NDArray[np.object_]
) -> npt.NDArray[np.bool_]:
    encoded = np.array([s.encode() for s in symbols], dtype=object)
    return keys != encoded if len(keys) else np.zeros(0, dtype=bool)


def _detail(reason: Reason, tick: JsonTick, record: RawRecord) -> str:
    if reason == "key_mismatch":
        return f"key {record.key!r} but symbol {tick.symbol!r}"
    field = _FIELD_OF[reason]
    return f"{field}={getattr(tick, field)!r}"


_FIELD_OF = {"bad_price": "price", "bad_size": "size", "bad_side": "side", "bad_timestamp": "ts"}
