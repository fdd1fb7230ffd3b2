"""Why a record was dead-lettered: the reason codes, one closed set."""

from typing import Literal

Reason = Literal[
    "invalid_json",  # not UTF-8, or not JSON
    "schema",  # missing, extra or wrongly typed field
    "bad_price",  # NaN, infinite or not positive
    "bad_size",  # NaN, infinite or negative
    "bad_side",  # neither "B" nor "S"
    "bad_timestamp",  # outside 2000-01-01 .. 2100-01-01
    "key_mismatch",  # record key is not the tick's symbol
    "too_large",  # record over kafka.max_record_bytes
    "late",  # older than the symbol's forming bar
]
REASONS: tuple[Reason, ...] = Reason.__args__  # type: ignore[attr-defined]
