"""The store's per-tick loops, compiled with numba.

When bars close, the ticks of a whole bar of every closing symbol (a second of
the feed, with 1 s bars) leave the reorder buffer and become bars at once. In
numpy that is a dozen passes over those ticks (masks, compressions, one
``reduceat`` per field); here it is one pass that takes them out and makes the
bars (buffer_kernels.py, with the reorder buffer's other loop). Each function
is compiled for its one signature when this module is imported (cached on
disk), so no batch pays for a compilation.

A bar's volume and notional are summed tick by tick in time order (a left
fold): the same ticks give the same bits however they were batched.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

# numba caches what it compiled beside this file or in NUMBA_CACHE_DIR; in the
# container the package is read-only, so unless told otherwise, a directory of
# the temporary directory (the first start of a container compiles, ~1.5 s)
os.environ.setdefault(
    "NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"ticksmith-numba-{os.getuid()}")
)

import numba
import numpy as np

JIT: dict[str, Any] = {"cache": True, "nogil": True, "nopython": True}


def compiled(signature: Any) -> Any:
    """``numba.jit`` with JIT's options, for a kernel outside this module: importing
    it from here sets numba's cache directory before numba is first imported."""
    return numba.jit(signature, **JIT)


T: Any = numba.types  # numba ships no types
# arrays only read are typed read-only: those accept writable arrays too, and a
# batch's columns may be views of a read-only buffer (np.frombuffer)
I1, L1, F1, B1 = (T.Array(t, 1, "A", readonly=True) for t in (T.intp, T.int64, T.float64, T.int8))
OUT_I1, OUT_L1, OUT_F1 = (T.Array(t, 1, "C") for t in (T.intp, T.int64, T.float64))
W_I1, W_L1, W_F1 = (T.Array(t, 1, "A") for t in (T.intp, T.int64, T.float64))
W_L2, W_F2, W_B2 = (T.Array(t, 2, "C") for t in (T.int64, T.float64, T.int8))


@numba.jit(T.Tuple((OUT_I1, T.boolean))(I1, L1), **JIT)
def by_slot(slot, ts):  # type: ignore[no-untyped-def]
    """The stable order of ticks by slot (a counting sort), and whether each
    slot's ticks are then in time order."""
    n = len(slot)
    upper = 0
    for i in range(n):
        upper = max(upper, slot[i] + 1)
    first = np.zeros(upper + 1, np.intp)
    for i in range(n):
        first[slot[i] + 1] += 1
    for s in range(upper):
        first[s + 1] += first[s]
    order = np.empty(n, np.intp)
    for i in range(n):
        s = slot[i]
        order[first[s]] = i
        first[s] += 1
    in_order = True
    for j in range(1, n):
        a, b = order[j - 1], order[j]
        if slot[a] == slot[b] and ts[b] < ts[a]:
            in_order = False
            break
    return order, in_order


@numba.jit(
    T.Tuple((OUT_I1, OUT_L1, *[OUT_F1] * 6, OUT_L1))(I1, L1, F1, F1),
    **JIT,
)
def aggregate(code, start, price, size):  # type: ignore[no-untyped-def]
    """Bars of ticks sorted by (code, bar start, time): per run of equal (code,
    start), its code, start, open, high, low, close, volume, notional, count."""
    n = len(code)
    runs = 0
    for i in range(n):
        if i == 0 or code[i] != code[i - 1] or start[i] != start[i - 1]:
            runs += 1
    out_code = np.empty(runs, np.intp)
    out_start = np.empty(runs, np.int64)
    open_ = np.empty(runs, np.float64)
    high = np.empty(runs, np.float64)
    low = np.empty(runs, np.float64)
    close = np.empty(runs, np.float64)
    volume = np.empty(runs, np.float64)
    notional = np.empty(runs, np.float64)
    count = np.empty(runs, np.int64)
    r = -1
    for i in range(n):
        p = price[i]
        if i == 0 or code[i] != code[i - 1] or start[i] != start[i - 1]:
            r += 1
            out_code[r], out_start[r] = code[i], start[i]
            open_[r], high[r], low[r] = p, p, p
            volume[r], notional[r], count[r] = size[i], p * size[i], 1
        else:
            high[r] = max(high[r], p)
            low[r] = min(low[r], p)
            volume[r] += size[i]
            notional[r] += p * size[i]
            count[r] += 1
        close[r] = p
    return out_code, out_start, open_, high, low, close, volume, notional, count


@numba.jit(OUT_F1(I1, F1, F1), **JIT)
def left_sums(first, values, seed):  # type: ignore[no-untyped-def]
    """Per run (``values[first[r]:first[r + 1]]``): ``seed[r]`` plus its values,
    added left to right, as ``aggregate`` adds a bar's ticks (numpy's reductions
    add pairwise, so their bits depend on where a batch cut the run)."""
    out = np.empty(len(first), np.float64)
    for r in range(len(first)):
        end = first[r + 1] if r + 1 < len(first) else len(values)
        acc = seed[r]
        for i in range(first[r], end):
            acc += values[i]
        out[r] = acc
    return out


@numba.jit(T.void(I1, I1, W_L1, W_L2, W_F2, W_F2, W_B2, L1, F1, F1, B1), **JIT)
def scatter(  # type: ignore[no-untyped-def]
    row, at, total, ts2, price2, size2, side2, ts, price, size, side
):
    """Append ticks to the tick window's rings: tick ``at[i]`` to row ``row[i]``,
    at column ``total[row] % width``, in order (a later tick of a slot overwrites
    the oldest once its ring is full); ``total`` counts them."""
    width = ts2.shape[1]
    for i in range(len(row)):
        r, t = row[i], at[i]
        c = total[r] % width
        ts2[r, c], price2[r, c], size2[r, c], side2[r, c] = ts[t], price[t], size[t], side[t]
        total[r] += 1


@numba.jit(
    T.Tuple((OUT_I1, OUT_L1, T.Array(T.float64, 2, "C"), OUT_L1))(
        I1, L1, F1, F1, T.intp, T.float64, T.int64, W_L1, W_L1, T.Array(T.float64, 2, "A"), W_L1
    ),
    **JIT,
)
def activity(  # type: ignore[no-untyped-def]
    slot, ts, price, size, measure, threshold, anchor_ns, period, start, forming, count
):
    """Feed ticks, in arrival order, to the forming activity bars of their slots
    (`period`, `start`, `forming` [open, high, low, close, volume, notional] and
    `count`, one row per slot, updated in place). A bar closes on the tick that
    brings its measure (0 count, 1 volume, 2 notional) to `threshold`, or, before
    a tick of a later anchor period joins it, at the anchor. Returns the closed
    bars in closing order: slot, start, fields, count."""
    n = len(slot)
    out_slot = np.empty(2 * n, np.intp)  # a tick closes at most two bars
    out_start = np.empty(2 * n, np.int64)
    out = np.empty((2 * n, 6), np.float64)
    out_count = np.empty(2 * n, np.int64)
    j = 0
    for i in range(n):
        s, p, q = slot[i], price[i], size[i]
        anchor = ts[i] - ts[i] % anchor_ns
        if count[s] > 0 and anchor > period[s]:  # the period ended: close what it has
            out_slot[j], out_start[j], out_count[j] = s, start[s], count[s]
            out[j, :] = forming[s]
            j += 1
            count[s] = 0
        period[s] = max(period[s], anchor)
        row = forming[s]
        if count[s] == 0:
            start[s] = ts[i]
            row[0], row[1], row[2], row[4], row[5] = p, p, p, q, p * q
        else:
            row[1], row[2] = max(row[1], p), min(row[2], p)
            row[4] += q
            row[5] += p * q
        row[3] = p
        count[s] += 1
        reached = count[s] if measure == 0 else (row[4] if measure == 1 else row[5])
        if reached >= threshold:
            out_slot[j], out_start[j], out_count[j] = s, start[s], count[s]
            out[j, :] = row
            j += 1
            count[s] = 0
    return out_slot[:j], out_start[:j], out[:j], out_count[:j]
