"""Where time bars coarser than the finest begin and end: a time zone and an origin.

Every coarse time bar is bucketed here (``bars.timezone``, ``bars.origin``;
docs/bars.md), with the semantics of pandas'
``resample(freq, origin=<origin's date in the zone>, offset=<its time of day>)``:

- an interval of whole days is that many of the zone's **local days**, each
  starting at the origin's time of day, counted from the origin's date: a day
  bar is 23 or 25 hours long across a DST change, and a 7-day bar from a Monday
  origin is a week from Monday;
- any other interval is equally spaced in absolute time from the origin instant.

With the zone UTC and the origin 1970-01-01T00:00 (the defaults) both are
``start - start % interval``: the bars of an epoch-aligned interval.

A local time that a DST change skips moves forward to the change (pandas'
``nonexistent="shift_forward"``); one it repeats is its first occurrence.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
DAY_NS = 86_400 * 10**9
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PAD_DAYS = 400  # a table extension covers a year or so more than was asked for


class Buckets(Protocol):
    """The bars of one interval: which one a (finest bar's) start falls in, and its end."""

    def start(self, ns: I64) -> I64: ...

    def end(self, start: I64) -> I64: ...


class Spaced:
    """Bars equally spaced in absolute time from an origin instant."""

    def __init__(self, interval_ns: int, origin_ns: int) -> None:
        self.interval_ns, self._origin_ns = interval_ns, origin_ns

    def start(self, ns: I64) -> I64:
        if not self._origin_ns:  # the epoch: exactly today's arithmetic, one pass fewer
            return ns - ns % self.interval_ns
        return ns - (ns - self._origin_ns) % self.interval_ns

    def end(self, start: I64) -> I64:
        return start + self.interval_ns


class LocalDays:
    """Bars of `days` local days of `zone`, each beginning at the origin's time of day.

    The instants local days begin are kept in a sorted table built (Python, a
    day at a time) on first use around the times asked for and widened when a
    time outside it comes: a bucket is then one ``searchsorted``.
    """

    def __init__(self, days: int, zone: ZoneInfo, origin: datetime) -> None:
        self._days, self._zone, self._tod = days, zone, origin.time()
        self._origin_day = origin.date().toordinal()
        self._first = 0  # the ordinal of the table's first local day
        self._begins: I64 = np.empty(0, np.int64)  # when each local day begins, ns UTC

    def start(self, ns: I64) -> I64:
        day = self._bucket(ns)  # first: it may widen the table
        return self._begins[day - self._first]

    def end(self, start: I64) -> I64:
        day = self._bucket(start) + self._days
        return self._begins[day - self._first]

    def _bucket(self, ns: I64) -> npt.NDArray[np.intp]:
        """The ordinal of the first local day of each time's bar."""
        if len(ns):
            self._cover(int(ns.min()), int(ns.max()))
        day = np.searchsorted(self._begins, ns, side="right") - 1 + self._first
        return day - (day - self._origin_day) % self._days

    def _cover(self, lo_ns: int, hi_ns: int) -> None:
        """Widen the table to hold the first day of `lo_ns`'s bar and the end of `hi_ns`'s."""
        lo = _ordinal(lo_ns, self._zone) - self._days - 1  # its day may begin on the eve
        hi = _ordinal(hi_ns, self._zone) + self._days + 1
        first, last = self._first, self._first + len(self._begins)
        if len(self._begins) and first <= lo and hi < last:
            return
        first, last = (min(lo, first), max(hi, last)) if len(self._begins) else (lo, hi)
        days = range(first - _PAD_DAYS, last + _PAD_DAYS)
        begins = [local_ns(date.fromordinal(d), self._tod, self._zone) for d in days]
        self._first, self._begins = days.start, np.array(begins, np.int64)


def _ordinal(ns: int, zone: ZoneInfo) -> int:
    """The local date (as an ordinal) at `ns`."""
    return (_EPOCH + timedelta(microseconds=ns // 1_000)).astimezone(zone).date().toordinal()


def local_ns(day: date, tod: time, zone: ZoneInfo) -> int:
    """The instant, ns since the epoch, a local date and time of day names (the
    module doc says which one when a DST change skips or repeats it)."""
    wall = datetime.combine(day, tod)
    first = wall.replace(tzinfo=zone)  # fold=0: of a repeated time, the first
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall:
        return _ns(first)
    # skipped: fold=1 reads it with the offset after the change, fold=0 before,
    # and the change lies between the two; find it to the microsecond
    lo, hi = _ns(wall.replace(tzinfo=zone, fold=1)), _ns(first)
    after = wall.replace(tzinfo=zone, fold=1).utcoffset()
    while hi - lo > 1_000:
        mid = (lo + hi) // 2 // 1_000 * 1_000
        at = _EPOCH + timedelta(microseconds=mid // 1_000)
        lo, hi = (lo, mid) if at.astimezone(zone).utcoffset() == after else (mid, hi)
    return hi


def _ns(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1_000


class Calendar:
    """The zone and origin of every coarse time bar; one :class:`Buckets` per interval."""

    def __init__(self, zone: str = "UTC", origin: datetime = datetime(1970, 1, 1)) -> None:
        """`origin`: a local date and time in `zone` (naive)."""
        self.zone, self.origin = ZoneInfo(zone), origin
        self.origin_ns = local_ns(origin.date(), origin.time(), self.zone)

    @functools.cache  # noqa: B019 - one per process, as long-lived as the store
    def buckets(self, interval_ns: int) -> Buckets:
        if interval_ns % DAY_NS or self.zone.key == "UTC":  # UTC days are all 24 h
            return Spaced(interval_ns, self.origin_ns)
        return LocalDays(interval_ns // DAY_NS, self.zone, self.origin)
