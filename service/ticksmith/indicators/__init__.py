"""Indicators computed from closed bars, two ways that agree bit for bit:
incrementally for many symbols at once (``IndicatorEngine``) and over one
symbol's history (``indicator_frame``). See docs/indicators.md."""

from ticksmith.indicators.base import Indicator, IndicatorState, Params
from ticksmith.indicators.columns import BarColumns
from ticksmith.indicators.engine import IndicatorEngine, phase_of
from ticksmith.indicators.frame import indicator_frame
from ticksmith.indicators.registry import REGISTRY
from ticksmith.indicators.spec import (
    IndicatorConfigError,
    IndicatorSpec,
    indicator_specs,
    parse_specs,
)

__all__ = [
    "REGISTRY",
    "BarColumns",
    "Indicator",
    "IndicatorConfigError",
    "IndicatorEngine",
    "IndicatorSpec",
    "IndicatorState",
    "Params",
    "indicator_frame",
    "indicator_specs",
    "parse_specs",
    "phase_of",
]
