"""Walking pages of symbols by their cursor, with plain lists."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from hypothesis import example, given
from hypothesis import strategies as st

from ticksmith.api.pages import PATH, page


def cursor(link: str) -> tuple[str, int]:
    split = urlsplit(link)
    assert split.path == PATH
    query = parse_qs(split.query, keep_blank_values=True, strict_parsing=True)
    return query["after"][0], int(query["limit"][0])


@given(st.lists(st.text(min_size=1, max_size=8), unique=True), st.integers(1, 7))
@example(["A+B", "A B", "A&B=1", "é/%", "#"], 1)  # characters a query must escape
def test_following_the_links_yields_every_symbol_once_in_order(
    symbols: list[str], limit: int
) -> None:
    ordered = sorted(symbols)
    seen, chosen, link = [], *page(ordered, None, limit)
    while True:
        assert 1 <= len(chosen) <= limit or (not ordered and not chosen)
        seen += chosen
        if link is None:
            break
        after, limit_again = cursor(link)
        assert (after, limit_again) == (chosen[-1], limit)
        chosen, link = page(ordered, after, limit)
    assert seen == ordered


def test_symbols_that_arrive_between_pages_before_the_cursor_shift_nothing() -> None:
    first, link = page(["B", "D", "F", "H"], None, 2)
    assert (first, link) == (["B", "D"], "/v1/symbols?limit=2&after=D")
    assert page(["A", "B", "C", "D", "F", "H"], "D", 2) == (["F", "H"], None)


def test_a_cursor_that_is_no_longer_held_still_places_the_page() -> None:
    assert page(["A", "C", "E"], "B", 5) == (["C", "E"], None)
