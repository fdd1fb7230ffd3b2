"""Ranges of bars by start time: which held rows a ``from``/``to`` query selects.

A range is ``[from, to)`` over bar starts, so ranges that meet cover every bar
once. Its rows come oldest first, at most ``limit`` of them; when the limit
cuts the range, the next page starts at the first bar left out, which a client
reaches by following ``next`` (as it does for the pages of symbols).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from yarl import URL

from ticksmith.api.params import NS_MAX, NS_MIN, BadParameter


class Span(NamedTuple):
    from_ns: int
    to_ns: int


class Window(NamedTuple):
    lo: int  # first row returned, an index into the rows held
    hi: int  # one past the last
    next_ns: int | None  # start of the first row of the range the limit left out


def span(from_ns: int | None, to_ns: int | None) -> Span | None:
    """The range asked for, or None when neither end was given (the newest rows)."""
    if from_ns is None and to_ns is None:
        return None
    chosen = Span(NS_MIN if from_ns is None else from_ns, NS_MAX if to_ns is None else to_ns)
    if chosen.from_ns > chosen.to_ns:
        raise BadParameter(f"from ({chosen.from_ns} ns) must not be after to ({chosen.to_ns} ns)")
    return chosen


def window(starts: npt.NDArray[np.int64], chosen: Span, limit: int) -> Window:
    """The rows of sorted `starts` in the range, by binary search: the cost is the
    rows returned, not the rows held."""
    lo, end = np.searchsorted(starts, chosen, side="left").tolist()
    hi = min(end, lo + limit)
    return Window(lo, hi, int(starts[hi]) if hi < end else None)


def newest(held: int, limit: int) -> Window:
    """The last `limit` rows, as without a range."""
    return Window(max(held - limit, 0), held, None)


def next_link(url: URL, query: dict[str, str], next_ns: int | None) -> str | None:
    """Path and query of the next page: the same request from the first row left out."""
    if next_ns is None:
        return None
    return str(url.with_query({**query, "from": str(next_ns)}))
