"""JSON ticks (one object per record), parsed a whole fetch at a time.

The happy path maps one msgspec decoder over the values at C speed; only when a
record fails are the records parsed again in a Python loop, to pin the failure
on the guilty ones. Each value is parsed on its own: parsing the values joined
into one list let a record of two ticks, or one whose string ran on into the
next record, move ticks between records (and a blank record parse as nothing).
"""

from __future__ import annotations

import msgspec
import numpy as np
import numpy.typing as npt
import pandas as pd

from ticksmith.ingest.records import MAX_SYMBOL_BYTES, Columns, Rejected, Values
from ticksmith.ticks import SIDES


class JsonTick(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """gc=False: a fetch makes tens of thousands of these, and they hold no cycles;
    tracking them would run the cyclic collector over and over."""

    symbol: str
    ts: int
    price: float
    size: float
    side: str


_one_decoder = msgspec.json.Decoder(JsonTick)
_encoder = msgspec.json.Encoder()
Index = npt.NDArray[np.intp]


def encode(symbol: str, ts_ns: int, price: float, size: float, side: str) -> bytes:
    return _encoder.encode(JsonTick(symbol, ts_ns, price, size, side))


def parse(records: Values) -> tuple[Columns, list[Rejected]]:
    """Columns for the records, and a Rejected for each that is not a tick."""
    values, keys, index = records.values, records.keys, records.index
    try:
        ticks: list[JsonTick] = list(map(_one_decoder.decode, values))
        kept = index
        rejected: list[Rejected] = []
    except (msgspec.DecodeError, UnicodeDecodeError):  # the latter: not UTF-8 in a string
        ticks, kept, rejected, keys = _parse_one_by_one(values, keys, index)
    cols = _columns(ticks, kept)
    bad = _bad_symbol_or_key(cols, keys, rejected)
    return (cols.take(~bad) if bad.any() else cols), rejected


def _bad_symbol_or_key(
    cols: Columns, keys: list[bytes | None], rejected: list[Rejected]
) -> npt.NDArray[np.bool_]:
    """Per tick (one per record): its symbol is not 1..255 bytes, or its key is not
    the symbol's UTF-8 bytes; a Rejected for each is added to `rejected`. Symbols are
    measured once per distinct name."""
    named = np.array([name.encode() for name in cols.names], dtype=object)
    sizes = np.fromiter(map(len, named), dtype=np.int64, count=len(named))
    bad_symbol = ((sizes < 1) | (sizes > MAX_SYMBOL_BYTES))[cols.code]
    mismatch = ~bad_symbol & np.asarray(named[cols.code] != np.array(keys, dtype=object), bool)
    for i in np.flatnonzero(bad_symbol | mismatch).tolist():
        if bad_symbol[i]:
            detail = f"symbol of {sizes[cols.code[i]]} bytes; must be 1..{MAX_SYMBOL_BYTES}"
            rejected.append(Rejected(int(cols.record[i]), "bad_symbol", detail))
        else:
            detail = f"key {keys[i]!r:.80} but symbol {cols.names[cols.code[i]]!r:.80}"
            rejected.append(Rejected(int(cols.record[i]), "key_mismatch", detail))
    return np.asarray(bad_symbol | mismatch, dtype=bool)


def _parse_one_by_one(
    values: list[bytes], keys: list[bytes | None], index: Index
) -> tuple[list[JsonTick], Index, list[Rejected], list[bytes | None]]:
    ticks, kept, kept_keys, rejected = [], [], [], []
    for i, value, key in zip(index.tolist(), values, keys, strict=True):
        try:
            ticks.append(_one_decoder.decode(value))
            kept.append(i)
            kept_keys.append(key)
        except msgspec.ValidationError as exc:
            rejected.append(Rejected(i, "schema", str(exc)))
        except msgspec.DecodeError as exc:
            rejected.append(_undecodable(i, value, exc))
        except UnicodeDecodeError as exc:
            rejected.append(Rejected(i, "invalid_utf8", str(exc)))
    return ticks, np.array(kept, dtype=np.intp), rejected, kept_keys


def _undecodable(i: int, value: bytes, exc: Exception) -> Rejected:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as bad:
        return Rejected(i, "invalid_utf8", str(bad))
    return Rejected(i, "invalid_json", str(exc))


def _columns(ticks: list[JsonTick], kept: Index) -> Columns:
    n = len(ticks)
    code, names = pd.factorize(np.array([t.symbol for t in ticks], dtype=object))
    sides = np.array([t.side for t in ticks], dtype=object)
    side = np.full(n, -1, dtype=np.int8)
    for value, name in enumerate(SIDES):
        side[sides == name] = value
    return Columns(
        record=kept,
        code=np.asarray(code, np.intp),
        names=np.asarray(names, dtype=object),
        ts_ns=_timestamps(ticks),
        price=np.fromiter([t.price for t in ticks], dtype=np.float64, count=n),
        size=np.fromiter([t.size for t in ticks], dtype=np.float64, count=n),
        side=side,
    )


def _timestamps(ticks: list[JsonTick]) -> npt.NDArray[np.int64]:
    try:
        return np.array([t.ts for t in ticks], dtype=np.int64)
    except OverflowError:  # beyond int64: clip to a value the range check rejects
        return np.array([min(max(t.ts, -1), 2**63 - 1) for t in ticks], dtype=np.int64)
