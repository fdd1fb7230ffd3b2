"""Synthetic ticks: per-symbol geometric random walks, vectorised a chunk at a time.

Prices move on a 0.01 grid, sizes are round-ish lots, event time increases
strictly per symbol and globally (one tick every `spacing_ns`, with jitter that
never reorders). The same seed gives the same ticks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from ticksmith.ticks import TickBatch


def symbol_names(count: int) -> list[str]:
    width = max(4, len(str(count - 1)))
    return [f"SYM{i:0{width}d}" for i in range(count)]


@dataclass
class Market:
    symbols: list[str]
    seed: int = 0
    start_ns: int = 1_732_459_200_000_000_000  # 2024-11-24T14:40:00Z
    spacing_ns: int = 1_000_000  # mean event-time step between consecutive ticks

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._log_price = np.log(self._rng.uniform(10, 500, len(self.symbols)))
        self._now_ns = self.start_ns

    def chunk(self, n: int) -> pd.DataFrame:
        """The next `n` ticks, in event-time order: symbol, ts, price, size, side."""
        rng = self._rng
        which = rng.integers(0, len(self.symbols), n)
        steps = rng.normal(0, 0.0005, n)
        order = np.argsort(which, kind="stable")
        grouped = which[order]
        walked = np.empty(n)
        walked[order] = _grouped_cumsum(steps[order], grouped)
        log_price = self._log_price[which] + walked
        last = np.flatnonzero(np.r_[grouped[1:] != grouped[:-1], True])
        self._log_price[grouped[last]] = log_price[order][last]
        gaps = rng.integers(self.spacing_ns // 2, self.spacing_ns * 3 // 2 + 1, n)
        ts = self._now_ns + np.cumsum(gaps)
        self._now_ns = int(ts[-1])
        return pd.DataFrame(
            {
                "symbol": np.asarray(self.symbols, dtype=object)[which],
                "ts": ts.astype(np.int64),
                "price": np.maximum(np.round(np.exp(log_price), 2), 0.01),
                "size": (rng.integers(1, 50, n) * rng.choice([1, 10, 100], n)).astype(np.float64),
                "side": np.where(rng.random(n) < 0.5, "B", "S"),
            }
        )


def _grouped_cumsum(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    return np.asarray(pd.Series(values).groupby(groups).cumsum(), dtype=np.float64)


def tick_batch(
    symbol: npt.ArrayLike,
    ts_ns: npt.NDArray[np.int64],
    price: npt.NDArray[np.float64],
    size: npt.NDArray[np.float64],
    side: npt.NDArray[np.int8],
    partition: npt.NDArray[np.int32],
    offset: npt.NDArray[np.int64],
) -> TickBatch:
    """A batch from a per-tick symbol column, as ticks made in process (tests,
    benchmarks) reach the store without the decoders."""
    code, names = pd.factorize(np.asarray(symbol, dtype=object))
    names = np.asarray(names, dtype=object)
    return TickBatch(np.asarray(code, np.intp), names, ts_ns, price, size, side, partition, offset)
