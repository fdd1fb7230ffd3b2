"""The reorder buffer's compiled loop (store/pending.py): take the ticks whose bar
closed out of the buffer and make them into bars in the same pass. Typed and
compiled as kernels.py says."""

from __future__ import annotations

import numba
import numpy as np

from ticksmith.store.kernels import (
    F1,
    I1,
    JIT,
    L1,
    OUT_F1,
    OUT_I1,
    OUT_L1,
    W_F1,
    W_I1,
    W_L1,
    T,
    by_slot,
)


@numba.jit(**JIT)
def bar_rows(size):  # type: ignore[no-untyped-def]
    """Room for `size` bars being made: code (slot), start, its newest tick's time,
    fields (open, high, low, close, volume, notional) and count."""
    return (
        np.empty(size, np.intp),
        np.empty(size, np.int64),
        np.empty(size, np.int64),
        np.empty((6, size), np.float64),
        np.empty(size, np.int64),
    )


@numba.jit(**JIT)
def open_bar(bars, r, s, start, t, p, q):  # type: ignore[no-untyped-def]
    """Bar row `r` of slot `s` begins with the tick (time t, price p, size q)."""
    code, start_of, newest, fields, count = bars
    code[r], start_of[r], newest[r], count[r] = s, start, t, 1
    fields[0, r], fields[1, r], fields[2, r], fields[3, r] = p, p, p, p
    fields[4, r], fields[5, r] = q, p * q


@numba.jit(**JIT)
def add_to_bar(bars, r, t, p, q):  # type: ignore[no-untyped-def]
    """The tick (time t, no older than the bar's newest) joins bar row `r`: volume and
    notional are summed tick by tick, in this order."""
    _, _, newest, fields, count = bars
    fields[1, r] = max(fields[1, r], p)
    fields[2, r] = min(fields[2, r], p)
    fields[3, r] = p
    fields[4, r] += q
    fields[5, r] += p * q
    count[r] += 1
    newest[r] = t


@numba.jit(**JIT)
def grouped_by_slot(bars, rows):  # type: ignore[no-untyped-def]
    """The first `rows` bars, grouped by slot (a counting sort, each slot's in row
    order): code, start, the six fields and count, as separate arrays."""
    code, start_of, _, fields, count = bars
    order = by_slot(code[:rows], start_of[:rows])[0]
    out = np.empty((6, rows), np.float64)
    for f in range(6):
        for i in range(rows):
            out[f, i] = fields[f, order[i]]
    return (
        code[:rows][order],
        start_of[:rows][order],
        out[0],
        out[1],
        out[2],
        out[3],
        out[4],
        out[5],
        count[:rows][order],
    )


@numba.jit(
    T.Tuple((T.boolean, W_I1, W_L1, W_F1, W_F1, OUT_I1, OUT_L1, *[OUT_F1] * 6, OUT_L1, T.intp))(
        W_I1, W_L1, W_F1, W_F1, T.intp, T.int64, L1, I1, I1, L1, F1, F1, W_I1, W_L1, W_F1, W_F1
    ),
    **JIT,
)
def release_bars(  # type: ignore[no-untyped-def]
    slot,
    ts,
    price,
    size,
    n,
    fine_ns,
    closed_before,
    dead_until,
    a_slot,
    a_ts,
    a_price,
    a_size,
    r_slot,
    r_ts,
    r_price,
    r_size,
):
    """Take out of the first `n` buffered ticks those whose bar starts before
    ``closed_before[slot]``, add the `a_` (arriving) ticks after them, and make
    them into bars (as ``aggregate`` over them sorted by slot, bar start and time),
    in one pass and without sorting the ticks, when each slot's are in time order
    (the usual case: they arrive so). The ticks kept move to the front of the
    buffer, in order, and their count is returned; with `n` 0 the buffer is left as
    it is. A slot's ticks before position ``dead_until[slot]`` were released
    already (running.py) and are dropped. Each tick is added to its slot's bar in arrival order,
    which is then time order, so volume and notional get the same bits as
    ``aggregate`` gives. Returns whether that held; the released ticks unsorted (for
    the caller to sort and aggregate when it did not); the bars, grouped by slot (a
    counting sort of the bars) and by start within a slot; and the count kept.
    The released ticks are written to the `r_` arrays (at least `n` + the arriving
    long, kept by the caller from one release to the next: fresh ones cost a page
    fault every 512 ticks, a quarter of this pass), and returned as slices of them."""
    m = len(a_slot)
    upper = len(closed_before)
    for i in range(m):
        upper = max(upper, a_slot[i] + 1)
    current = np.full(upper, -1, np.intp)  # per slot: its newest bar's row
    bars = bar_rows(n + m)
    start_of, newest = bars[1], bars[2]
    rows = 0
    ordered = True
    j = 0
    k = 0
    for i in range(n + m):
        if i < n:
            s, t, p, q = slot[i], ts[i], price[i], size[i]
            start = t - t % fine_ns
            if i < dead_until[s]:
                continue
            if start >= closed_before[s]:  # not due: kept, in order, at the front
                slot[k], ts[k], price[k], size[k] = s, t, p, q
                k += 1
                continue
        else:
            s, t, p, q = a_slot[i - n], a_ts[i - n], a_price[i - n], a_size[i - n]
            start = t - t % fine_ns
        r_slot[j], r_ts[j], r_price[j], r_size[j] = s, t, p, q
        j += 1
        if not ordered:
            continue
        r = current[s]
        if r >= 0 and start == start_of[r]:
            if t < newest[r]:
                ordered = False
                continue
            add_to_bar(bars, r, t, p, q)
        elif r >= 0 and start < start_of[r]:
            ordered = False
        else:  # the slot's first bar here, or a later one
            r = rows
            rows += 1
            current[s] = r
            open_bar(bars, r, s, start, t, p, q)
    if not ordered:
        rows = 0
    slots, starts, o, h, low, c, v, notional, counts = grouped_by_slot(bars, rows)
    return (
        ordered,
        r_slot[:j],
        r_ts[:j],
        r_price[:j],
        r_size[:j],
        slots,
        starts,
        o,
        h,
        low,
        c,
        v,
        notional,
        counts,
        k,
    )


@numba.jit(T.intp(W_I1, W_L1, W_F1, W_F1, T.intp, I1), **JIT)
def compact(slot, ts, price, size, n, dead_until):  # type: ignore[no-untyped-def]
    """Move the first `n` buffered ticks that are not dead (a slot's ticks before
    position ``dead_until[slot]`` are) to the front, in order; returns their count."""
    k = 0
    for i in range(n):
        s = slot[i]
        if i >= dead_until[s]:
            slot[k], ts[k], price[k], size[k] = s, ts[i], price[i], size[i]
            k += 1
    return k
