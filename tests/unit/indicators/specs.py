"""The parameter sets the indicator tests run: TA-Lib's defaults, the smallest
periods each allows, and long ones that span several re-seat blocks."""

from __future__ import annotations

from ticksmith.indicators import IndicatorSpec

S = IndicatorSpec.of

SPECS: list[IndicatorSpec] = [
    *(S("sma", period=p) for p in (1, 2, 20, 200)),
    *(S("ema", period=p) for p in (1, 2, 20, 200)),
    *(S("wma", period=p) for p in (1, 2, 20, 200)),
    *(S("rsi", period=p) for p in (2, 14, 100)),
    S("macd"),
    S("macd", fast=2, slow=3, signal=1),
    S("macd", fast=5, slow=50, signal=20),
    S("macd", fast=10, slow=10, signal=4),
    S("bbands"),
    S("bbands", period=2, nbdevup=1, nbdevdn=1),
    S("bbands", period=20, nbdevup=2, nbdevdn=2),
    S("bbands", period=200, nbdevup=1.5, nbdevdn=2.5),
    *(S("atr", period=p) for p in (1, 14, 100)),
    S("stoch"),
    S("stoch", fastk=1, slowk=1, slowd=1),
    S("stoch", fastk=14, slowk=3, slowd=3),
    S("stoch", fastk=50, slowk=10, slowd=5),
    S("obv"),
    *(S("vwap", period=p) for p in (1, 20, 300)),
    *(S("rvol", period=p) for p in (1, 20, 250)),
    S("rvol", period=2, ddof=1),
    S("rvol", period=30, ddof=1),
]


def label(spec: IndicatorSpec) -> str:
    return spec.label
