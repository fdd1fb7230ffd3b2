"""The binary tick format, version 1 (documented in docs/formats.md).

A record carries one or many ticks of one symbol, little-endian:

    version  u8      1
    sym_len  u8      1..255
    symbol   sym_len bytes, UTF-8, equal to the record's key
    count    u32     number of ticks
    ticks    count x 25 bytes: ts_ns i64, price f64, size f64, side u8 (0 = B, 1 = S)

Parsing is vectorised over the whole fetch: the values are joined into one
buffer, every header field is read with numpy fancy indexing at the records'
start offsets, and every tick is gathered into one structured array. The only
per-record Python work is taking each value's length and key.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from ticksmith.ingest.records import Columns, RecordLike, Rejected

VERSION = 1
HEADER = 6  # version, sym_len, count; plus sym_len bytes of symbol
TICK = np.dtype([("ts_ns", "<i8"), ("price", "<f8"), ("size", "<f8"), ("side", "u1")])
Ints = npt.NDArray[np.int64]


def encode(symbol: str, ticks: npt.NDArray[np.void]) -> bytes:
    """One record: `ticks` is an array with TICK's fields."""
    name = symbol.encode()
    if not 1 <= len(name) <= 255:
        raise ValueError(f"symbol must be 1..255 bytes of UTF-8, got {len(name)}")
    body = np.asarray(ticks).astype(TICK, copy=False).tobytes()
    return bytes((VERSION, len(name))) + name + len(ticks).to_bytes(4, "little") + body


def parse(records: Sequence[RecordLike], index: list[int]) -> tuple[Columns, list[Rejected]]:
    """Columns for the records at `index`, and a Rejected for each malformed one."""
    values = [records[i].value or b"" for i in index]
    keys = [records[i].key or b"" for i in index]
    buf = np.frombuffer(b"".join(values) + bytes(HEADER), dtype=np.uint8)  # padded: safe reads
    length = _lengths(values)
    start = np.cumsum(length) - length
    sym_len = buf[start + 1].astype(np.int64)
    count = _u32(buf, start + 2 + sym_len)
    key_codes, key_names = pd.factorize(np.array(keys, dtype=object))
    utf8 = np.array([_is_utf8(k) for k in key_names], dtype=bool)[key_codes]
    reason = np.select(
        [
            buf[start] != VERSION,
            (length < HEADER) | (length < HEADER + sym_len),
            sym_len == 0,
            length < HEADER + sym_len + count * TICK.itemsize,
            length > HEADER + sym_len + count * TICK.itemsize,
            _key_differs(buf, start, sym_len, keys),
            ~utf8,
        ],
        [
            "unknown_version",
            "truncated",
            "bad_symbol",
            "truncated",
            "bad_length",
            "key_mismatch",
            "bad_symbol",
        ],
        default="",
    )
    ok = reason == ""
    rejected = [
        Rejected(
            index[i], reason[i], _detail(reason[i], buf[start[i]], length[i], sym_len[i], count[i])
        )
        for i in np.flatnonzero(~ok)
    ]
    names = np.array([k.decode("utf-8", "replace") for k in key_names], dtype=object)
    cols = _ticks(
        buf[: length.sum()], np.where(ok, HEADER + sym_len, length), np.where(ok, count, 0)
    )
    return Columns(
        record=np.asarray(index, dtype=np.intp)[cols.record],
        symbol=names[key_codes[cols.record]],
        ts_ns=cols.ts_ns,
        price=cols.price,
        size=cols.size,
        side=cols.side,
    ), rejected


def _lengths(items: list[bytes]) -> Ints:
    return np.fromiter(map(len, items), dtype=np.int64, count=len(items))


def _u32(buf: npt.NDArray[np.uint8], at: Ints) -> Ints:
    at = np.minimum(at, len(buf) - 4)
    b = buf[at[:, None] + np.arange(4)].astype(np.int64)
    return np.asarray(b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16) | (b[:, 3] << 24), np.int64)


def _key_differs(
    buf: npt.NDArray[np.uint8], start: Ints, sym_len: Ints, keys: list[bytes]
) -> npt.NDArray[np.bool_]:
    """Records whose symbol bytes are not their key, compared byte by byte at once."""
    key_len = _lengths(keys)
    same_len = key_len == sym_len
    key_buf = np.frombuffer(b"".join(keys) + b"\0", dtype=np.uint8)
    n = np.where(same_len, sym_len, 0)
    rec = np.repeat(np.arange(len(keys)), n)
    pos = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    at = np.minimum(start[rec] + 2 + pos, len(buf) - 1)
    differs = buf[at] != key_buf[(np.cumsum(key_len) - key_len)[rec] + pos]
    mismatched = np.bincount(rec, weights=differs, minlength=len(keys)) > 0
    return np.asarray(~same_len | mismatched, dtype=bool)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _ticks(buf: npt.NDArray[np.uint8], skip: Ints, count: Ints) -> Columns:
    """Every tick, gathered from the joined buffer in one go: each record is `skip`
    bytes to drop (its header, or all of a bad record) then `count` ticks; `record`
    here is the position of the tick's record in the input."""
    runs = np.column_stack((skip, count * TICK.itemsize)).ravel()
    body = np.repeat(np.tile(np.array([False, True]), len(skip)), runs)
    ticks = buf[body].view(TICK)
    good = count[count > 0]  # a good record with no ticks adds none either
    rec = np.repeat(np.flatnonzero(count > 0), good)
    side = ticks["side"].astype(np.int8)
    side[ticks["side"] > 1] = -1
    return Columns(
        record=rec,
        symbol=np.empty(0, dtype=object),
        ts_ns=ticks["ts_ns"].astype(np.int64),
        price=ticks["price"].astype(np.float64),
        size=ticks["size"].astype(np.float64),
        side=side,
    )


def _detail(reason: str, version: int, length: int, sym_len: int, count: int) -> str:
    if reason == "unknown_version":
        return f"version byte {version}; this build reads version {VERSION}"
    if length < HEADER + sym_len:
        return f"{length} bytes: header incomplete"
    if reason in ("truncated", "bad_length"):
        return f"{length} bytes; header says {HEADER + sym_len + count * TICK.itemsize}"
    return f"{length} bytes, sym_len {sym_len}"
