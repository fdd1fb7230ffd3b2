"""Every indicator by its config name. Adding one is a definition in its family
module (averages, momentum, volatility, volume) plus one line here."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ticksmith.indicators.averages import EMA, SMA, WMA
from ticksmith.indicators.base import Indicator
from ticksmith.indicators.momentum import MACD, RSI, STOCH
from ticksmith.indicators.volatility import ATR, BBANDS, RVOL
from ticksmith.indicators.volume import OBV, VWAP

_ALL: tuple[Indicator[Any], ...] = (SMA, EMA, WMA, RSI, MACD, BBANDS, ATR, STOCH, OBV, VWAP, RVOL)

REGISTRY: Mapping[str, Indicator[Any]] = MappingProxyType({i.name: i for i in _ALL})
