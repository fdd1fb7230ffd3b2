"""Parsing indicator specs from a plain config mapping."""

from __future__ import annotations

import pytest

from ticksmith.errors import ConfigError
from ticksmith.indicators import REGISTRY, IndicatorConfigError, IndicatorSpec, parse_specs
from ticksmith.indicators.momentum import MacdParams


def test_parses_a_config_mapping_with_talib_defaults_for_missing_params() -> None:
    specs = parse_specs({"sma": [{"period": 20}, {"period": 50}], "macd": [{}], "obv": [{}]})
    assert [s.label for s in specs] == ["sma_20", "sma_50", "macd_12_26_9", "obv"]
    assert specs[2].params == MacdParams(fast=12, slow=26, signal=9)


def test_columns_name_each_output() -> None:
    assert IndicatorSpec.of("sma", period=20).columns == ("sma_20",)
    assert IndicatorSpec.of("bbands", period=20, nbdevup=2.5).columns == (
        "bbands_20_2.5_2_upper",
        "bbands_20_2.5_2_middle",
        "bbands_20_2.5_2_lower",
    )
    assert IndicatorSpec.of("stoch").columns == ("stoch_5_3_3_k", "stoch_5_3_3_d")


def test_specs_are_frozen_and_hashable() -> None:
    a, b = IndicatorSpec.of("rsi", period=14), IndicatorSpec.of("rsi")
    assert a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.name = "sma"  # type: ignore[misc]


def test_every_registered_indicator_parses_with_defaults() -> None:
    specs = parse_specs({name: [{}] for name in REGISTRY})
    assert {s.name for s in specs} == set(REGISTRY)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"smaa": [{}]}, "unknown indicator 'smaa'; known: atr, bbands"),
        ({"sma": [{"periods": 20}]}, "indicators.sma[0]: sma: "),
        ({"sma": [{"period": 0}]}, "period must be an integer >= 1, got 0"),
        ({"sma": [{"period": 2.5}]}, "period must be an integer >= 1, got 2.5"),
        ({"sma": [{"period": True}]}, "got True"),
        ({"rsi": [{"period": 1}]}, "period must be an integer >= 2"),
        ({"macd": [{"fast": 26, "slow": 12}]}, "slow must be an integer >= 26"),
        ({"bbands": [{"nbdevup": -1}]}, "nbdevup must be a number >= 0"),
        ({"rvol": [{"ddof": 2}]}, "ddof must be 0 (population) or 1 (sample)"),
        ({"rvol": [{"period": 1, "ddof": 1}]}, "period must be an integer >= 2"),
        ({"sma": {"period": 20}}, "indicators.sma must be a list of parameter tables"),
        ({"sma": [{"period": 5}, {"period": 5}]}, "indicators configured twice: sma_5"),
    ],
)
def test_bad_config_names_the_setting(config: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(IndicatorConfigError) as raised:
        parse_specs(config)
    assert message in str(raised.value)
    assert isinstance(raised.value, ConfigError)


def test_unknown_parameter_lists_the_known_ones() -> None:
    with pytest.raises(IndicatorConfigError, match=r"parameters: fast, slow, signal"):
        IndicatorSpec.of("macd", fats=3)


def test_params_of_another_indicator_are_refused() -> None:
    with pytest.raises(IndicatorConfigError):
        IndicatorSpec("sma", MacdParams())
