"""Which indicators to compute: frozen specs parsed from a plain config mapping
such as ``{"sma": [{"period": 20}], "macd": [{"fast": 12, "slow": 26, "signal": 9}]}``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from ticksmith.config import Settings, invalid_setting
from ticksmith.errors import ConfigError
from ticksmith.indicators.base import Indicator, IndicatorState, Params
from ticksmith.indicators.columns import BarColumns, Floats
from ticksmith.indicators.registry import REGISTRY


class IndicatorConfigError(ConfigError, ValueError):
    """An indicator setting names an unknown indicator or a bad parameter."""


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """One indicator with its parameters, e.g. ``IndicatorSpec.of("sma", period=20)``.

    Its output columns are named ``<name>_<params>`` (``sma_20``), with
    ``_<output>`` appended when it has several (``macd_12_26_9_signal``).
    """

    name: str
    params: Params

    def __post_init__(self) -> None:
        expected = _indicator(self.name).params
        if type(self.params) is not expected:
            raise IndicatorConfigError(f"{self.name} takes {expected.__name__}")

    @classmethod
    def of(cls, name: str, **params: Any) -> IndicatorSpec:
        indicator = _indicator(name)
        try:
            return cls(name, indicator.params(**params))
        except (TypeError, ValueError) as e:
            allowed = ", ".join(f.name for f in fields(indicator.params)) or "none"
            raise IndicatorConfigError(f"{name}: {e} (parameters: {allowed})") from e

    @property
    def indicator(self) -> Indicator[Any]:
        return REGISTRY[self.name]

    @property
    def label(self) -> str:
        return "_".join(filter(None, (self.name, self.params.label())))

    @property
    def lookback(self) -> int:
        return self.params.lookback

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.column(output) for output in self.indicator.outputs)

    def column(self, output: str) -> str:
        return self.label if len(self.indicator.outputs) == 1 else f"{self.label}_{output}"

    def state(self, capacity: int) -> IndicatorState:
        return self.indicator.state(self.params, capacity)

    def backfill(self, bars: BarColumns, phase: int = 0) -> dict[str, Floats]:
        """Columns over one symbol's `bars`, oldest first. With the engine's
        phase for the symbol (``engine.phase_of``) the values are the engine's
        bit for bit; other phases differ only by rounding."""
        outputs = self.indicator.backfill_ready(bars, self.params, phase)
        return {self.column(name): values for name, values in outputs.items()}


def _indicator(name: str) -> Indicator[Any]:
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise IndicatorConfigError(f"unknown indicator {name!r}; known: {known}")
    return REGISTRY[name]


def parse_specs(config: Mapping[str, Sequence[Mapping[str, Any]]]) -> tuple[IndicatorSpec, ...]:
    """Specs from ``{name: [params, ...]}``; raises ``IndicatorConfigError``
    naming the offending entry (``indicators.macd[0]: ...``)."""
    specs: list[IndicatorSpec] = []
    for name, entries in config.items():
        if isinstance(entries, Mapping) or not isinstance(entries, Sequence):
            raise IndicatorConfigError(f"indicators.{name} must be a list of parameter tables")
        for i, params in enumerate(entries):
            try:
                specs.append(IndicatorSpec.of(name, **params))
            except IndicatorConfigError as e:
                raise IndicatorConfigError(f"indicators.{name}[{i}]: {e}") from e
    _check_unique(specs)
    return tuple(specs)


def indicator_specs(settings: Settings) -> tuple[IndicatorSpec, ...]:
    """The specs ``settings.indicators`` configures, parsed when the service starts
    (config.py checks only their shape); a bad entry raises ``IndicatorConfigError``
    worded as a bad setting is, naming it (``indicators.macd[0]: ...``)."""
    try:
        return parse_specs(settings.indicators)
    except IndicatorConfigError as e:
        message = invalid_setting(["indicators"], str(e), settings.indicators)
        raise IndicatorConfigError(message) from e


def _check_unique(specs: Sequence[IndicatorSpec]) -> None:
    labels = [s.label for s in specs]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise IndicatorConfigError(f"indicators configured twice: {', '.join(twice)}")
