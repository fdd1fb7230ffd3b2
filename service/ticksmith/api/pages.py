"""Pages of a sorted list of symbols, walked with a cursor.

The cursor is the last symbol of the page before: the next page starts after
it. Symbols that arrive or leave between two pages shift nothing else, so a
client that follows the ``next`` links sees every symbol that was held the
whole time exactly once, in order.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from yarl import URL

PATH = "/v1/symbols"
DEFAULT_LIMIT = 1_000
MAX_LIMIT = 10_000


def page(symbols: Sequence[str], after: str | None, limit: int) -> tuple[list[str], str | None]:
    """Up to `limit` of the sorted `symbols` after `after`, and the next page's link."""
    start = 0 if after is None else bisect_right(symbols, after)
    chosen = list(symbols[start : start + limit])
    more = start + limit < len(symbols)
    return chosen, _link(limit, chosen[-1]) if more else None


def _link(limit: int, after: str) -> str:
    return str(URL(PATH).with_query({"limit": limit, "after": after}))
