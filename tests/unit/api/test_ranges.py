"""Which held rows a range [from, to) selects, found by binary search over starts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from ticksmith.api import ranges
from ticksmith.api.params import NS_MAX, NS_MIN, BadParameter
from ticksmith.api.ranges import Span, Window

STARTS = np.arange(10, 110, 10, dtype=np.int64)  # 10, 20, ..., 100


@pytest.mark.parametrize(
    ("span", "limit", "expected"),
    [
        (Span(10, 110), 100, Window(0, 10, None)),  # every row
        (Span(30, 30), 100, Window(2, 2, None)),  # empty: to is exclusive
        (Span(31, 39), 100, Window(3, 3, None)),  # empty: between two starts
        (Span(0, 10), 100, Window(0, 0, None)),  # before every bar; to is exclusive
        (Span(101, 500), 100, Window(10, 10, None)),  # after every bar
        (Span(30, 60), 100, Window(2, 5, None)),  # 30, 40, 50: from inclusive, to not
        (Span(29, 61), 100, Window(2, 6, None)),
        (Span(30, 100), 3, Window(2, 5, 60)),  # cut: the next page starts at 60
        (Span(30, 60), 3, Window(2, 5, None)),  # exactly the limit: nothing cut
        (Span(NS_MIN, NS_MAX), 4, Window(0, 4, 50)),
    ],
)
def test_a_range_selects_the_rows_whose_start_is_in_it(
    span: Span, limit: int, expected: Window
) -> None:
    assert ranges.window(STARTS, span, limit) == expected


def test_no_rows_held() -> None:
    assert ranges.window(np.empty(0, np.int64), Span(0, NS_MAX), 5) == Window(0, 0, None)


@given(st.lists(st.integers(0, 200), unique=True), st.integers(0, 210), st.integers(1, 8))
def test_following_next_walks_the_range_once_in_order(
    values: list[int], from_ns: int, limit: int
) -> None:
    starts = np.array(sorted(values), dtype=np.int64)
    seen: list[int] = []
    cursor: int | None = from_ns
    while cursor is not None:
        lo, hi, cursor = ranges.window(starts, Span(cursor, 190), limit)
        assert hi - lo <= limit
        seen += starts[lo:hi].tolist()
    assert seen == [s for s in sorted(values) if from_ns <= s < 190]


def test_one_end_alone_is_a_range_open_at_the_other() -> None:
    assert ranges.span(None, None) is None
    assert ranges.span(5, None) == Span(5, NS_MAX)
    assert ranges.span(None, 5) == Span(NS_MIN, 5)
    assert ranges.span(5, 5) == Span(5, 5)


def test_from_after_to_is_refused_naming_both() -> None:
    with pytest.raises(BadParameter, match=r"^from \(6 ns\) must not be after to \(5 ns\)"):
        ranges.span(6, 5)


def test_the_next_link_is_the_same_request_from_the_first_row_left_out() -> None:
    url = URL("/v1/symbols/S%2FX/bars?from=1&to=2024-11-24T09:40:00%2B05:00&limit=2")
    query = dict(url.query)
    link = ranges.next_link(url, query, 42)
    assert link == "/v1/symbols/S%2FX/bars?from=42&to=2024-11-24T09:40:00%2B05:00&limit=2"
    assert ranges.next_link(url, query, None) is None
