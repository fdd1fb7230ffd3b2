"""Bar series the indicator tests run on: random walks and awkward cases."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ticksmith.indicators.columns import BarColumns


def from_closes(close: np.ndarray, rng: np.random.Generator, spread: float = 1e-3) -> BarColumns:
    """Bars around `close`: open is the previous close, high/low bracket both,
    integral volumes with about one bar in ten untraded (VWAP NaN there)."""
    n = len(close)
    open_ = np.r_[close[:1], close[:-1]]
    high = np.maximum(open_, close) * (1 + spread * rng.random(n))
    low = np.minimum(open_, close) * (1 - spread * rng.random(n))
    volume = rng.integers(1, 1_000, n).astype(np.float64) * (rng.random(n) > 0.1)
    vwap = np.where(volume > 0, low + (high - low) * rng.random(n), np.nan)
    return BarColumns.of(open=open_, high=high, low=low, close=close, volume=volume, vwap=vwap)


def random_walk(n: int, seed: int, level: float = 100.0, step: float = 1e-3) -> BarColumns:
    rng = np.random.default_rng(seed)
    close = level * np.exp(np.cumsum(rng.standard_normal(n) * step))
    return from_closes(close, rng)


def constant(n: int, seed: int) -> BarColumns:
    price = np.full(n, 100.3)
    volume = np.full(n, 7.0)
    return BarColumns.of(open=price, high=price, low=price, close=price, volume=volume, vwap=price)


def zero_volume(n: int, seed: int) -> BarColumns:
    """No volume at all in long stretches (and in some single bars)."""
    bars = random_walk(n, seed)
    rng = np.random.default_rng(seed + 1)
    quiet = (np.arange(n) // 97) % 3 == 0
    volume = np.where(quiet | (rng.random(n) < 0.3), 0.0, bars.volume)
    vwap = np.where(volume > 0, bars.close, np.nan)
    return BarColumns.of(**_fields(bars) | {"volume": volume, "vwap": vwap})


def single_tick(n: int, seed: int) -> BarColumns:
    """One trade per bar: open = high = low = close = VWAP."""
    rng = np.random.default_rng(seed)
    price = np.round(50 + np.cumsum(rng.choice([-0.01, 0.0, 0.01], n)), 2)
    volume = rng.integers(1, 10, n).astype(np.float64)
    return BarColumns.of(open=price, high=price, low=price, close=price, volume=volume, vwap=price)


def gaps(n: int, seed: int) -> BarColumns:
    """A random walk with overnight-style gaps of up to 5% and flat stretches."""
    rng = np.random.default_rng(seed)
    log_step = rng.standard_normal(n) * 1e-3
    gap = rng.random(n) < 0.01
    log_step[gap] += rng.uniform(-0.05, 0.05, gap.sum())
    log_step[(np.arange(n) // 50) % 7 == 3] = 0.0
    return from_closes(100 * np.exp(np.cumsum(log_step)), rng)


def regimes(n: int, seed: int) -> BarColumns:
    """Jumps of x10 and /10 (the level wanders over decades) and a x1e6 spike.
    TA-Lib's running sums keep the rounding error of such a value after it has
    left the window; see oracles.EXACT."""
    rng = np.random.default_rng(seed)
    log_step = rng.standard_normal(n) * 1e-3
    log_step[rng.random(n) < 0.004] += np.log(10) * rng.choice([-1, 1])
    close = 100 * np.exp(np.cumsum(log_step))
    close[n // 3] *= 1e6
    return from_closes(close, rng)


def tiny_moves(n: int, seed: int) -> BarColumns:
    """A price of 1 moving by about 1e-9: the spread is tiny next to the level."""
    return random_walk(n, seed, level=1.0, step=1e-9)


def _fields(bars: BarColumns) -> dict[str, np.ndarray]:
    return {f: getattr(bars, f) for f in ("open", "high", "low", "close", "volume", "vwap")}


AWKWARD: dict[str, Callable[[int, int], BarColumns]] = {
    "constant": constant,
    "zero_volume": zero_volume,
    "single_tick": single_tick,
    "gaps": gaps,
    "tiny_moves": tiny_moves,
}

SERIES: dict[str, Callable[[int, int], BarColumns]] = {
    "random_walk": random_walk,
    **AWKWARD,
    "regimes": regimes,
}
