"""Indicator cost per closed bar: ticksmith's incremental engine against TA-Lib
recomputing each window and talipp's incremental update.

The same nine indicators in all three, every window parameter set to W:
SMA(W), EMA(W), WMA(W), RSI(W), MACD(W/2, W, 9), BBANDS(W, 2, 2), ATR(W),
STOCH(W, 3, 3) and OBV, for W = 20, 200 and 2000.

- ticksmith: one ``IndicatorEngine.update`` per step for all SYMBOLS symbols
  (one closed bar each). Each symbol's window blocks start at its own phase (the
  engine's default), so the once-per-window pass of the two-block sums is spread
  over steps; its cost is inside the figure.
- TA-Lib: per symbol per new bar, each function called on the symbol's last
  W + 10 bars (10 more than W so that every function, MACD's signal line
  included, outputs its latest value).
- talipp: per symbol per new bar, ``add`` on each indicator object. talipp has
  no vectorisation across symbols, so its cost per bar does not depend on how
  many symbols there are; it runs on TALIPP_SYMBOLS to keep its warm-up short.

Each window: warm-up, then ROUNDS rounds of A B C (TA-Lib, ticksmith, talipp)
runs, the first round discarded. A run's length is calibrated in that first
round to about RUN_S seconds. Figures are medians with (min-max) over the
rounds; a ratio is baseline / ticksmith within the same round. Input bars are
made outside the timed region; the garbage collector is off inside it.

    python bench/indicators.py            (or: make bench-indicators)

Ends with one ``RESULT indicators ...`` line and rewrites the generated block of the
``## indicators`` section of bench/RESULTS.md (``--no-write`` leaves it alone); the
method prose around the block is kept there by hand.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np
import talib
from talib import MA_Type  # type: ignore[attr-defined]
from talipp.indicators import ATR, BB, EMA, MACD, OBV, RSI, SMA, WMA, Stoch
from talipp.ohlcv import OHLCV

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "service"))

from _results import Spread, machine, output_arguments, write_generated  # noqa: E402  (bench/ is on sys.path)
from ticksmith.indicators import BarColumns, IndicatorEngine, IndicatorSpec  # noqa: E402

SECTION = "## indicators"
WINDOWS = (20, 200, 2000)
SYMBOLS = 1_000
TALIPP_SYMBOLS = 40
ROUNDS = 7  # the first is warm-up and calibration
RUN_S = 0.2
MARGIN = 10
Array = np.ndarray
SMA_TYPE = MA_Type.SMA


def specs(w: int) -> list[IndicatorSpec]:
    s = IndicatorSpec.of
    return [
        s("sma", period=w),
        s("ema", period=w),
        s("wma", period=w),
        s("rsi", period=w),
        s("macd", fast=w // 2, slow=w, signal=9),
        s("bbands", period=w, nbdevup=2, nbdevdn=2),
        s("atr", period=w),
        s("stoch", fastk=w, slowk=3, slowd=3),
        s("obv"),
    ]


class Market:
    """Random-walk bars for `n` symbols, one new bar per symbol per ``step``."""

    def __init__(self, n: int, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self._close = 100 * np.exp(self._rng.standard_normal(n) * 0.1)

    def step(self) -> BarColumns:
        n = len(self._close)
        before = self._close
        self._close = before * np.exp(self._rng.standard_normal(n) * 1e-3)
        top = np.maximum(before, self._close) * (1 + 1e-3 * self._rng.random(n))
        bottom = np.minimum(before, self._close) * (1 - 1e-3 * self._rng.random(n))
        volume = self._rng.integers(1, 1_000, n).astype(np.float64)
        vwap = (top + bottom) / 2
        return BarColumns.of(
            open=before, high=top, low=bottom, close=self._close, volume=volume, vwap=vwap
        )


def timed(work: Callable[[], None]) -> int:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        work()
        return time.perf_counter_ns() - start
    finally:
        gc.enable()


class Ticksmith:
    name = "ticksmith"

    def __init__(self, w: int, symbols: int = SYMBOLS) -> None:
        self.engine = IndicatorEngine(specs(w), capacity=symbols)
        self.rows = self.engine.rows([f"S{i}" for i in range(symbols)])
        self.market = Market(symbols, seed=1)
        for _ in range(w + 64):
            self.engine.update(self.rows, self.market.step())
        self.bars_per_step = symbols

    def run(self, steps: int) -> int:
        batches = [self.market.step() for _ in range(steps)]
        return timed(lambda: self._update(batches))

    def _update(self, batches: list[BarColumns]) -> None:
        for bars in batches:
            self.engine.update(self.rows, bars)


class Talib:
    """Each symbol's last w + MARGIN bars, kept twice over in a doubled ring so
    that the window is always one contiguous slice."""

    name = "TA-Lib"

    def __init__(self, w: int, symbols: int = SYMBOLS) -> None:
        self.w, self.n = w, w + MARGIN
        self.market = Market(symbols, seed=2)
        self.fields = {
            f: np.empty((symbols, 2 * self.n)) for f in ("high", "low", "close", "volume")
        }
        self.t = 0
        for _ in range(self.n):
            self._append(self.market.step())
        self.bars_per_step = symbols

    def _append(self, bars: BarColumns) -> None:
        at = self.t % self.n
        for name, ring in self.fields.items():
            ring[:, at] = ring[:, at + self.n] = getattr(bars, name)
        self.t += 1

    def _windows(self) -> dict[str, Array]:
        start = self.t % self.n
        return {f: ring[:, start : start + self.n] for f, ring in self.fields.items()}

    def _bar(self, v: dict[str, Array]) -> None:
        w = self.w
        for h, lo, c, vol in zip(v["high"], v["low"], v["close"], v["volume"], strict=True):
            talib.SMA(c, w), talib.EMA(c, w), talib.WMA(c, w), talib.RSI(c, w)
            talib.MACD(c, w // 2, w, 9), talib.BBANDS(c, w, 2.0, 2.0), talib.ATR(h, lo, c, w)
            talib.STOCH(h, lo, c, w, 3, SMA_TYPE, 3, SMA_TYPE), talib.OBV(c, vol)

    def run(self, steps: int) -> int:
        total = 0
        for _ in range(steps):
            self._append(self.market.step())
            total += timed(partial(self._bar, self._windows()))
        return total


class Talipp:
    name = "talipp"

    def __init__(self, w: int, symbols: int = TALIPP_SYMBOLS) -> None:
        self.market = Market(symbols, seed=3)
        self.on_close = [
            [SMA(w), EMA(w), WMA(w), RSI(w), MACD(w // 2, w, 9), BB(w, 2.0)] for _ in range(symbols)
        ]
        self.on_bar = [[ATR(w), Stoch(w, 3), OBV()] for _ in range(symbols)]
        for _ in range(w + 64):
            self._add(self._inputs())
        self.bars_per_step = symbols

    def _inputs(self) -> list[tuple[float, OHLCV]]:
        b = self.market.step()
        rows = zip(b.open, b.high, b.low, b.close, b.volume, strict=True)
        return [
            (float(c), OHLCV(float(o), float(h), float(lo), float(c), float(v)))
            for o, h, lo, c, v in rows
        ]

    def _add(self, inputs: list[tuple[float, OHLCV]]) -> None:
        for (close, bar), by_close, by_bar in zip(inputs, self.on_close, self.on_bar, strict=True):
            for indicator in by_close:
                indicator.add(close)
            for indicator in by_bar:
                indicator.add(bar)

    def run(self, steps: int) -> int:
        batches = [self._inputs() for _ in range(steps)]
        return timed(lambda: self._add_all(batches))

    def _add_all(self, batches: list[list[tuple[float, OHLCV]]]) -> None:
        for inputs in batches:
            self._add(inputs)


Engine = Ticksmith | Talib | Talipp


@dataclass
class Window:
    w: int
    ns: dict[str, list[float]] = field(default_factory=dict)  # engine -> ns per bar per round

    def ratios(self, baseline: str) -> Spread:
        pairs = zip(self.ns[baseline], self.ns["ticksmith"], strict=True)
        return Spread.of([b / t for b, t in pairs])

    def spread(self, engine: str) -> Spread:
        return Spread.of(self.ns[engine])


def calibrate(engine: Engine) -> int:
    ns = engine.run(1)
    return max(1, round(RUN_S * 1e9 / max(ns, 1)))


def measure(w: int) -> Window:
    engines: list[Engine] = [Talib(w), Ticksmith(w), Talipp(w)]
    steps = {e.name: calibrate(e) for e in engines}
    out = Window(w, {e.name: [] for e in engines})
    for round_ in range(ROUNDS):
        for e in engines:  # A B C, alternating
            ns = e.run(steps[e.name]) / (steps[e.name] * e.bars_per_step)
            if round_ > 0:
                out.ns[e.name].append(ns)
    print(
        f"w={w}: " + ", ".join(f"{k} {Spread.of(v).show(',.0f')} ns/bar" for k, v in out.ns.items())
    )
    return out


def result_line(windows: list[Window]) -> str:
    by_w = {x.w: x for x in windows}
    fields = [f"ns_per_bar_w{x.w}={x.spread('ticksmith').median:.0f}" for x in windows]
    for base, key in (("TA-Lib", "talib"), ("talipp", "talipp")):
        fields += [f"{key}_ratio_w{x.w}={x.ratios(base).median:.1f}" for x in windows]
    flat = by_w[2000].spread("ticksmith").median / by_w[20].spread("ticksmith").median
    return "RESULT indicators " + " ".join(fields) + f" flatness={flat:.2f}"


def ns(window: Window, engine: str) -> str:
    return window.spread(engine).show(",.0f")


def times(window: Window, baseline: str) -> str:
    return window.ratios(baseline).show(".1f", "\N{MULTIPLICATION SIGN}")


def generated(windows: list[Window], elapsed_s: float, line: str) -> str:
    """This run's part of the section; the method is described by hand around it."""
    rows = "\n".join(
        f"| {x.w} | {ns(x, 'ticksmith')} | {ns(x, 'TA-Lib')} | {ns(x, 'talipp')} "
        f"| {times(x, 'TA-Lib')} | {times(x, 'talipp')} |"
        for x in windows
    )
    return f"""\
`python bench/indicators.py` (or `make bench-indicators`), {datetime.now(UTC):%Y-%m-%d %H:%M}
UTC, {elapsed_s:.0f} s, on {machine()}.

| W | ticksmith | TA-Lib recompute | talipp | TA-Lib / ticksmith | talipp / ticksmith |
|---|---|---|---|---|---|
{rows}

Flatness (ticksmith ns per bar at W=2000 over W=20): {line.rsplit("=", 1)[1]}.

    {line}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    output_arguments(parser)
    args = parser.parse_args()
    started = time.perf_counter()
    windows = [measure(w) for w in WINDOWS]
    line = result_line(windows)
    if args.write:
        text = generated(windows, time.perf_counter() - started, line)
        write_generated(SECTION, "bench/indicators.py", text, args.results)
    print(line)


if __name__ == "__main__":
    main()
