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

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ticksmith.ingest.reasons import Reason
from ticksmith.ingest.records import MAX_SYMBOL_BYTES, PAD, Columns, Rejected, Values

VERSION = 1
HEADER = 6  # version, sym_len, count; plus sym_len bytes of symbol
TICK = np.dtype([("ts_ns", "<i8"), ("price", "<f8"), ("size", "<f8"), ("side", "u1")])
Ints = npt.NDArray[np.int64]
# record problems in the order they are checked; 0 is none
_PROBLEMS: tuple[Reason, ...] = (
    "truncated",  # unused: 0 means no problem
    "unknown_version",
    "truncated",
    "bad_symbol",
    "truncated",
    "bad_length",
    "key_mismatch",
    "bad_symbol",
)
Index = npt.NDArray[np.intp]
Floats = npt.NDArray[np.float64]


def encode(symbol: str, ticks: npt.NDArray[np.void]) -> bytes:
    """One record: `ticks` is an array with TICK's fields."""
    name = symbol.encode()
    if not 1 <= len(name) <= MAX_SYMBOL_BYTES:
        raise ValueError(f"symbol must be 1..255 bytes of UTF-8, got {len(name)}")
    body = np.asarray(ticks).astype(TICK, copy=False).tobytes()
    return bytes((VERSION, len(name))) + name + len(ticks).to_bytes(4, "little") + body


def parse(records: Values) -> tuple[Columns, list[Rejected]]:
    """Columns for the records, and a Rejected for each malformed one."""
    joined = records.joined if records.joined is not None else b"".join([*records.values, PAD])
    buf = np.frombuffer(joined, np.uint8)
    length, index = records.length, records.index
    start = np.cumsum(length) - length
    sym_len = buf[start + 1].astype(np.int64)
    count = _u32(buf, start + 2 + sym_len)
    key_codes, key_names = _factorize(records.keys)
    utf8 = np.array([_is_utf8(k) for k in key_names], dtype=bool)[key_codes]
    problem = np.select(
        [
            buf[start] != VERSION,
            (length < HEADER) | (length < HEADER + sym_len),
            sym_len == 0,
            length < HEADER + sym_len + count * TICK.itemsize,
            length > HEADER + sym_len + count * TICK.itemsize,
            _key_differs(buf, start, sym_len, key_codes, key_names),
            ~utf8,
        ],
        np.arange(1, len(_PROBLEMS)),
        default=0,
    )
    ok = problem == 0
    rejected = []
    for i in np.flatnonzero(~ok).tolist():
        reason = _PROBLEMS[problem[i]]
        detail = _detail(reason, buf[start[i]], length[i], sym_len[i], count[i])
        rejected.append(Rejected(int(index[i]), reason, detail))
    names = np.array([k.decode("utf-8", "replace") for k in key_names], dtype=object)
    record, ts_ns, price, size, side = _ticks(buf, start + HEADER + sym_len, np.where(ok, count, 0))
    return Columns(
        record=index[record],
        code=np.asarray(key_codes, np.intp)[record],
        names=names,
        ts_ns=ts_ns,
        price=price,
        size=size,
        side=side,
    ), rejected


def _factorize(keys: list[bytes | None]) -> tuple[Ints, list[bytes]]:
    """Codes of the keys and the distinct keys; a missing key is b"" (and so never
    equals a symbol, which is at least one byte)."""
    codes, names = pd.factorize(np.array(keys, dtype=object))
    if (codes < 0).any():  # None: pandas leaves it out
        return _factorize([k or b"" for k in keys])
    return codes, list(names)


def _u32(buf: npt.NDArray[np.uint8], at: Ints) -> Ints:
    at = np.minimum(at, len(buf) - 4)
    b = buf[at[:, None] + np.arange(4)].astype(np.int64)
    return np.asarray(b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16) | (b[:, 3] << 24), np.int64)


def _key_differs(
    buf: npt.NDArray[np.uint8], start: Ints, sym_len: Ints, key_codes: Ints, key_names: list[bytes]
) -> npt.NDArray[np.bool_]:
    """Records whose symbol bytes are not their key: each record's symbol, read as
    little-endian 8-byte words straight from the buffer, against its key's words
    in a table of the distinct keys. The table is as wide as the longest symbol (at
    most 255 bytes): a longer key differs by its length alone, so a hostile key costs
    no more than a short one."""
    key_len = np.fromiter(map(len, key_names), dtype=np.int64, count=len(key_names))
    words = max(1, -(-int(sym_len.max()) // 8))
    table_buf = np.zeros((len(key_names), 8 * words), dtype=np.uint8)
    for row, name in enumerate(key_names):
        head = name[: 8 * words]
        table_buf[row, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    table = table_buf.view("<u8")
    every = _every_offset(buf, np.dtype("<u8"))
    differs = key_len[key_codes] != sym_len
    for w in range(words):
        mine = every[np.minimum(start + 2 + 8 * w, len(every) - 1)]
        left = np.clip(sym_len - 8 * w, 0, 8)  # symbol bytes in this word
        mask = np.where(
            left == 8, ~np.uint64(0), (np.uint64(1) << (8 * left).astype(np.uint64)) - 1
        )
        differs |= (mine & mask) != table[key_codes, w]
    return np.asarray(differs, dtype=bool)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _ticks(
    buf: npt.NDArray[np.uint8], first: Ints, count: Ints
) -> tuple[Ints, npt.NDArray[np.int64], Floats, Floats, npt.NDArray[np.int8]]:
    """Every tick, gathered from the joined buffer in one go: record ``i``'s
    ``count[i]`` ticks start at byte ``first[i]``. Returns each tick's record (its
    position among `first`) and the tick columns. Each field is gathered straight
    into its column through a zero-copy view with an element at every byte offset."""
    rec = np.repeat(np.arange(len(count)), count)
    within = np.arange(len(rec)) - np.repeat(np.cumsum(count) - count, count)
    at = first[rec] + within * TICK.itemsize
    fields: dict[str, Any] = dict(TICK.fields or {})
    ts_ns, price, size, raw_side = (
        _every_offset(buf, fields[name][0])[at + fields[name][1]]
        for name in ("ts_ns", "price", "size", "side")
    )
    side = raw_side.astype(np.int8)
    side[raw_side > 1] = -1
    return rec, ts_ns, price, size, side


def _every_offset(buf: npt.NDArray[np.uint8], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """A read-only view of `buf` as `dtype` values starting at every byte offset."""
    return np.ndarray(
        (max(0, len(buf) - dtype.itemsize + 1),), dtype=dtype, buffer=buf, strides=(1,)
    )


def _detail(reason: str, version: int, length: int, sym_len: int, count: int) -> str:
    if reason == "unknown_version":
        return f"version byte {version}; this build reads version {VERSION}"
    if length < HEADER + sym_len:
        return f"{length} bytes: header incomplete"
    if reason in ("truncated", "bad_length"):
        return f"{length} bytes; header says {HEADER + sym_len + count * TICK.itemsize}"
    return f"{length} bytes, sym_len {sym_len}"
