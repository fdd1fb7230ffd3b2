"""The reorder buffer's running bars (store/pending.py): each slot's buffered ticks
folded into a bar as they are added, so a bar boundary releases the bars of the
slots it closes without a pass over the whole buffer.

With 1 s bars the buffer holds a second of the feed; a boundary's bars close
over several steps (each symbol's on its first tick past the boundary), and a
pass over the buffer per step cost ~1 ms at 170,000 ticks/s: 4.4 us for each
bar closed. A slot's running bar is kept while all of its buffered ticks belong
to one bar and came in time order (the usual case; with allowed lateness a slot
may also hold ticks of the bar before). Its volume and notional are summed tick
by tick in arrival order, which is then time order: the bits
``kernels.aggregate`` gives. When a due slot has no running bar, the buffer
releases by its pass (buffer_kernels.py).

Per-slot state, one array each: ``earliest`` (the earliest bar start of its
buffered ticks; NOTHING when none), ``live`` (how many), ``dead_until`` (its
ticks at buffer positions before this were released and wait to be compacted
away), ``running`` (whether it has a running bar), ``last_ts`` and ``forming``
(the bar's open, high, low, close, volume, notional). Typed and compiled as
kernels.py says.
"""

from __future__ import annotations

import numba
import numpy as np

from ticksmith.store.buffer_kernels import add_to_bar, bar_rows, grouped_by_slot, open_bar
from ticksmith.store.kernels import F1, I1, JIT, L1, OUT_F1, OUT_I1, OUT_L1, W_I1, W_L1, T

NOTHING = np.iinfo(np.int64).max  # the earliest bar start of a slot with no buffered tick
W_B1 = T.Array(T.boolean, 1, "A")
W_F2 = T.Array(T.float64, 2, "C")
# earliest, live, dead_until, running, last_ts, forming
STATE = (W_L1, W_L1, W_I1, W_B1, W_L1, W_F2)


@numba.jit(T.void(I1, L1, F1, F1, T.intp, T.intp, T.int64, *STATE), **JIT)
def fold_in(  # type: ignore[no-untyped-def]
    slot, ts, price, size, lo, hi, fine_ns, earliest, live, dead_until, running, last_ts, forming
):
    """Fold buffer positions ``lo:hi`` (just added, in arrival order) into their slots'
    running bars; a tick of another bar, or older than its slot's newest, ends the
    slot's running bar until its buffered ticks are released."""
    for i in range(lo, hi):
        s, t, p, q = slot[i], ts[i], price[i], size[i]
        start = t - t % fine_ns
        row = forming[s]
        if live[s] == 0:
            earliest[s], last_ts[s], running[s] = start, t, True
            row[0], row[1], row[2], row[3], row[4], row[5] = p, p, p, p, q, p * q
        elif running[s] and start == earliest[s] and t >= last_ts[s]:
            row[1], row[2], row[3] = max(row[1], p), min(row[2], p), p
            row[4] += q
            row[5] += p * q
            last_ts[s] = t
        else:
            running[s] = False
            earliest[s] = min(earliest[s], start)
        live[s] += 1


RELEASED = T.Tuple((T.boolean, OUT_I1, OUT_L1, *[OUT_F1] * 6, OUT_L1, T.int64))


@numba.jit(RELEASED(), **JIT)
def _refused():  # type: ignore[no-untyped-def]
    f, i = np.empty(0, np.float64), np.empty(0, np.int64)
    return False, np.empty(0, np.intp), i, f, f, f, f, f, f, i, 0


@numba.jit(
    RELEASED(I1, I1, L1, F1, F1, T.intp, T.int64, *STATE),
    **JIT,
)
def release_running(  # type: ignore[no-untyped-def]
    due,
    a_slot,
    a_ts,
    a_price,
    a_size,
    n,
    fine_ns,
    earliest,
    live,
    dead_until,
    running,
    last_ts,
    forming,
):
    """Release the running bars of the `due` slots (every buffered tick of each: its
    one bar is closed), followed by the `a_` (arriving) ticks, whose bars are
    closed already: the bars ``release_bars`` makes, grouped by slot and by start
    within a slot. Returns whether it could (every due slot has a running bar and
    each slot's arriving ticks come in time order after it; if not, nothing
    changed), the bars (code, start, six fields, count) and how many buffered
    ticks were released: they stay in the first `n` positions of the buffer, dead,
    until it is compacted."""
    m, d = len(a_slot), len(due)
    upper = len(earliest)
    for i in range(m):
        upper = max(upper, a_slot[i] + 1)
    current = np.full(upper, -1, np.intp)  # per slot: its newest bar's row
    bars = bar_rows(d + m)
    code, start_of, newest, fields, count = bars
    released = 0
    for r in range(d):
        s = due[r]
        if not running[s]:
            return _refused()
        current[s], code[r], start_of[r] = r, s, earliest[s]
        newest[r], count[r] = last_ts[s], live[s]
        fields[:, r] = forming[s]
        released += live[s]
    rows = d
    for i in range(m):
        s, t, p, q = a_slot[i], a_ts[i], a_price[i], a_size[i]
        start = t - t % fine_ns
        r = current[s]
        if r >= 0 and (start < start_of[r] or (start == start_of[r] and t < newest[r])):
            return _refused()
        if r >= 0 and start == start_of[r]:
            add_to_bar(bars, r, t, p, q)
        else:
            r = rows
            rows += 1
            current[s] = r
            open_bar(bars, r, s, start, t, p, q)
    for r in range(d):
        s = due[r]
        earliest[s], live[s], dead_until[s] = NOTHING, 0, n
    slots, starts, o, h, low, c, v, notional, counts = grouped_by_slot(bars, rows)
    return True, slots, starts, o, h, low, c, v, notional, counts, released
