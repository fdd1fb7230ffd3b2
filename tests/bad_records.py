"""One bad record of every kind, each with the reason it must be rejected for.

Shared by the decoder's unit tests and the dead-letter test on the real broker.
"""

from __future__ import annotations

import time

import numpy as np

from ticksmith.ingest import binary_codec

NOW_NS = time.time_ns()


def _json(symbol: str = "AAA", **changes: object) -> bytes:
    fields = {"symbol": symbol, "ts": NOW_NS, "price": 10.5, "size": 100.0, "side": "B"}
    fields.update(changes)
    parts = [f'"{k}":{v}' if not isinstance(v, str) else f'"{k}":"{v}"' for k, v in fields.items()]
    return ("{" + ",".join(parts) + "}").encode()


def _ticks(n: int = 1, **changes: object) -> np.ndarray:
    rows = np.zeros(n, dtype=binary_codec.TICK)
    rows["ts_ns"], rows["price"], rows["size"], rows["side"] = NOW_NS, 10.5, 100.0, 0
    for name, value in changes.items():
        rows[name][-1] = value
    return rows


def _binary(symbol: str = "AAA", **changes: object) -> bytes:
    return binary_codec.encode(symbol, _ticks(3, **changes))


# (key, value, reason)
BAD: list[tuple[bytes, bytes, str]] = [
    (b"AAA", b'{"symbol":"AAA","ts":\xff}', "invalid_utf8"),
    # not UTF-8 inside a string: msgspec raises UnicodeDecodeError, which crashed decode()
    (b"AAA", _json(side="B").replace(b'"B"', b'"\xc3"'), "invalid_utf8"),
    (b"AAA", _json(symbol="A@").replace(b"A@", b"A\xff\xfe"), "invalid_utf8"),
    (b"AAA", b"{not json", "invalid_json"),
    (b"AAA", b'{"symbol":"AAA","ts":1,"price":1.0,"size":1}', "schema"),  # missing side
    (b"AAA", _json(exchange="X"), "schema"),  # extra field
    (b"AAA", _json(price="cheap"), "schema"),  # wrong type
    (b"AAA", b'{"symbol":"AAA","ts":1.5,"price":1.0,"size":1,"side":"B"}', "schema"),
    (b"AAA", _json(price=-1.0), "bad_price"),
    (b"AAA", _json(price=0), "bad_price"),
    (b"AAA", _json(price="INF").replace(b'"INF"', b"1e999"), "schema"),  # out of float range
    (b"AAA", _json(size=-5), "bad_size"),
    (b"AAA", _json(side="X"), "bad_side"),
    (b"AAA", _json(ts=1), "bad_timestamp"),
    (b"AAA", _json(ts=NOW_NS + 86_400 * 10**9), "bad_timestamp"),
    (b"AAA", _json(ts=10**30), "bad_timestamp"),
    (b"BBB", _json(), "key_mismatch"),
    (b"", _json(symbol=""), "bad_symbol"),  # empty symbol, and a key to match
    (b"S" * 256, _json(symbol="S" * 256), "bad_symbol"),  # over 255 bytes
    (b"AAA" * 300, _json(), "key_mismatch"),  # a key no symbol can match
    (b"AAA", b" " * 2_000, "too_large"),
    (b"AAA", _binary(price=float("nan")), "bad_price"),
    (b"AAA", _binary(price=float("inf")), "bad_price"),
    (b"AAA", _binary(size=-1.0), "bad_size"),
    (b"AAA", _binary(side=7), "bad_side"),
    (b"AAA", _binary(ts_ns=5), "bad_timestamp"),
    (b"AAA", b"\x02" + _binary()[1:], "unknown_version"),
    (b"AAA", _binary()[:-3], "truncated"),
    (b"AAA", _binary()[:4], "truncated"),
    (b"AAA", _binary() + b"\0", "bad_length"),
    (b"BBB", _binary(), "key_mismatch"),
    (b"A" * 16_384, _binary(), "key_mismatch"),  # over-long keys are cut off cheaply
    (
        b"\xff\xfe",
        bytes((1, 2)) + b"\xff\xfe" + binary_codec.encode("A", _ticks())[3:],
        "bad_symbol",
    ),
    (b"", bytes((1, 0)) + binary_codec.encode("A", _ticks())[3:], "bad_symbol"),
]
MAX_RECORD_BYTES = 1_000

GOOD: list[tuple[bytes, bytes]] = [(b"AAA", _json()), (b"AAA", _binary()), (b"AAA", _json())]
GOOD_TICKS = 1 + 3 + 1
# A binary record with one bad tick is dead-lettered whole, but its good ticks are kept.
VALUE_CHECKS = {"bad_price", "bad_size", "bad_side", "bad_timestamp"}
KEPT_FROM_BAD = sum(2 for _, v, reason in BAD if v[:1] == b"\x01" and reason in VALUE_CHECKS)
