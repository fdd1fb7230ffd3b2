"""Every indicator by its config name. Adding one is a module plus one line here."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ticksmith.indicators import atr, bbands, ema, macd, obv, rsi, rvol, sma, stoch, vwap, wma
from ticksmith.indicators.base import Indicator

_ALL: tuple[Indicator[Any], ...] = (
    sma.INDICATOR,
    ema.INDICATOR,
    wma.INDICATOR,
    rsi.INDICATOR,
    macd.INDICATOR,
    bbands.INDICATOR,
    atr.INDICATOR,
    stoch.INDICATOR,
    obv.INDICATOR,
    vwap.INDICATOR,
    rvol.INDICATOR,
)

REGISTRY: Mapping[str, Indicator[Any]] = MappingProxyType({i.name: i for i in _ALL})
