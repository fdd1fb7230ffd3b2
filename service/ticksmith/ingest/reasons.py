"""Why a record was dead-lettered: the reason codes, one closed set."""

from typing import Literal

Reason = Literal[
    "invalid_utf8",  # a JSON record that is not UTF-8
    "invalid_json",  # UTF-8, but not JSON
    "schema",  # missing, extra or wrongly typed field
    "bad_price",  # NaN, infinite or not positive
    "bad_size",  # NaN, infinite or negative
    "bad_side",  # neither "B" nor "S"
    "bad_timestamp",  # before min_event_time, or max_future_skew_ms past the record's timestamp
    "key_mismatch",  # record key is not the tick's symbol (a key over 255 bytes never is)
    "too_large",  # record over ingest.max_record_bytes
    "unknown_version",  # binary record with a version byte this build does not know
    "truncated",  # binary record shorter than its header says
    "bad_length",  # binary record longer than its header says
    "bad_symbol",  # symbol empty, over 255 bytes, or (binary) not UTF-8
    "late",  # older than the symbol's forming bar
    "symbol_limit",  # a new symbol while the store holds store.max_symbols
    "unreadable",  # aiokafka could not parse the record (a header key not UTF-8): position only
]
REASONS: tuple[Reason, ...] = Reason.__args__  # type: ignore[attr-defined]
