"""JSON ticks (one object per record), parsed a whole fetch at a time.

The happy path is one msgspec call over the joined values; only when that
fails are records parsed one by one, to pin the failure on the guilty ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np
import numpy.typing as npt

from ticksmith.ingest.records import Columns, RecordLike, Rejected
from ticksmith.ticks import SIDES


class JsonTick(msgspec.Struct, forbid_unknown_fields=True):
    symbol: str
    ts: int
    price: float
    size: float
    side: str


_batch_decoder = msgspec.json.Decoder(list[JsonTick])
_one_decoder = msgspec.json.Decoder(JsonTick)
_encoder = msgspec.json.Encoder()


def encode(symbol: str, ts_ns: int, price: float, size: float, side: str) -> bytes:
    return _encoder.encode(JsonTick(symbol, ts_ns, price, size, side))


def parse(records: Sequence[RecordLike], index: list[int]) -> tuple[Columns, list[Rejected]]:
    """Columns for the records at `index`, and a Rejected for each that is not a tick."""
    values = [records[i].value or b"" for i in index]
    try:
        ticks: list[JsonTick] = _batch_decoder.decode(b"[" + b",".join(values) + b"]")
        kept = index
        rejected: list[Rejected] = []
    except msgspec.DecodeError:
        ticks, kept, rejected = _parse_one_by_one(values, index)
    mismatch = [
        Rejected(i, "key_mismatch", f"key {records[i].key!r} but symbol {t.symbol!r}")
        for i, t in zip(kept, ticks, strict=True)
        if records[i].key != t.symbol.encode()
    ]
    if mismatch:
        bad = {r.index for r in mismatch}
        pairs = [(i, t) for i, t in zip(kept, ticks, strict=True) if i not in bad]
        kept, ticks = [i for i, _ in pairs], [t for _, t in pairs]
    return _columns(ticks, kept), rejected + mismatch


def _parse_one_by_one(
    values: list[bytes], index: list[int]
) -> tuple[list[JsonTick], list[int], list[Rejected]]:
    ticks, kept, rejected = [], [], []
    for i, value in zip(index, values, strict=True):
        try:
            ticks.append(_one_decoder.decode(value))
            kept.append(i)
        except msgspec.ValidationError as exc:
            rejected.append(Rejected(i, "schema", str(exc)))
        except msgspec.DecodeError as exc:
            rejected.append(_undecodable(i, value, exc))
    return ticks, kept, rejected


def _undecodable(i: int, value: bytes, exc: Exception) -> Rejected:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as bad:
        return Rejected(i, "invalid_utf8", str(bad))
    return Rejected(i, "invalid_json", str(exc))


def _columns(ticks: list[JsonTick], kept: list[int]) -> Columns:
    sides = np.array([t.side for t in ticks], dtype=object)
    side = np.full(len(ticks), -1, dtype=np.int8)
    for code, name in enumerate(SIDES):
        side[sides == name] = code
    return Columns(
        record=np.array(kept, dtype=np.intp),
        symbol=np.array([t.symbol for t in ticks], dtype=object),
        ts_ns=_timestamps(ticks),
        price=np.array([t.price for t in ticks], dtype=np.float64),
        size=np.array([t.size for t in ticks], dtype=np.float64),
        side=side,
    )


def _timestamps(ticks: list[JsonTick]) -> npt.NDArray[np.int64]:
    try:
        return np.array([t.ts for t in ticks], dtype=np.int64)
    except OverflowError:  # beyond int64: clip to a value the range check rejects
        return np.array([min(max(t.ts, -1), 2**63 - 1) for t in ticks], dtype=np.int64)
