"""Dead letters always fit the producer's limit (issue 11, finding 4)."""

from __future__ import annotations

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from ticksmith.ingest.dead_letter import Headers, Letter, fit

LIMIT = 1024 * 1024
OURS: Headers = [("ticksmith.reason", b"invalid_json"), ("ticksmith.detail", b"d" * 1024)]


def size(letter: Letter) -> int:
    return int(
        DefaultRecordBatchBuilder.estimate_size_in_bytes(letter.key, letter.value, letter.headers)
    )


def test_a_letter_that_fits_is_the_record_as_it_came_plus_our_headers() -> None:
    value = b"v" * 1000
    letter = fit(b"K", value, [("trace", b"1")], OURS, LIMIT)
    assert letter == Letter(b"K", value, [("trace", b"1"), *OURS])
    assert letter.value is value


@pytest.mark.parametrize("value_bytes", [1_048_301, LIMIT - 100, LIMIT, 3 * LIMIT])
def test_a_value_near_or_over_the_limit_is_cut_just_enough(value_bytes: int) -> None:
    value = bytes(range(256)) * (value_bytes // 256) + b"x" * (value_bytes % 256)
    letter = fit(b"SYM", value, [("trace", b"t" * 300)], OURS, LIMIT)
    assert LIMIT - 16 <= size(letter) <= LIMIT
    assert letter.key == b"SYM" and value.startswith(letter.value or b"")
    headers = dict(letter.headers)
    assert headers["ticksmith.original.value_bytes"] == str(value_bytes).encode()
    assert headers["trace"] == b"t" * 300


def test_a_key_and_headers_over_the_limit_are_cut_too() -> None:
    key, headers = b"k" * LIMIT, [("h", b"x" * 10), ("g", None)]
    letter = fit(key, b"value", headers, OURS, LIMIT)
    assert size(letter) <= LIMIT
    assert letter.value == b"" and key.startswith(letter.key or b"")
    named = dict(letter.headers)
    assert named["ticksmith.original.value_bytes"] == b"5"
    assert named["ticksmith.original.key_bytes"] == str(LIMIT).encode()
    assert named["ticksmith.original.headers_bytes"] == b"12"
    assert "h" not in named


def test_a_tombstone_stays_a_tombstone() -> None:
    assert fit(b"K", None, [], OURS, LIMIT) == Letter(b"K", None, OURS)
