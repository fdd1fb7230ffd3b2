"""Micro-benchmark rounds: each case timed with timeit, in alternating order, after a
warm-up round, so that drift on a shared machine falls on every case alike."""

from __future__ import annotations

import timeit


def alternating(
    timers: dict[str, timeit.Timer], rounds: int, target_s: float, unit_s: float
) -> dict[str, list[float]]:
    """Time per call, in `unit_s` (1e-6: µs), of each case in each of `rounds` rounds; each
    round runs a case about `target_s`, the order reversed every other round."""
    number = {name: _calibrate(t, target_s) for name, t in timers.items()}
    found: dict[str, list[float]] = {name: [] for name in timers}
    for round_no in range(rounds + 1):
        order = list(timers) if round_no % 2 else list(reversed(timers))
        for name in order:
            elapsed = timers[name].timeit(number[name])
            if round_no:  # round 0 is the warm-up
                found[name].append(elapsed / number[name] / unit_s)
    return found


def _calibrate(timer: timeit.Timer, target_s: float) -> int:
    number, elapsed = timer.autorange()
    return max(1, int(number * target_s / elapsed))
