import numpy as np
import pytest
import talib

from ticksmith.indicators.moving import ema, sma


@pytest.mark.parametrize("period", [1, 2, 20, 200])
@pytest.mark.parametrize("fn,oracle", [(sma, talib.SMA), (ema, talib.EMA)])
def test_moving_averages_equal_talib(period: int, fn, oracle) -> None:  # type: ignore[no-untyped-def]
    close = 100 * np.exp(np.random.default_rng(period).standard_normal(5_000).cumsum() * 0.001)
    np.testing.assert_allclose(fn(close, period), oracle(close, timeperiod=period), rtol=1e-9)


def test_short_series_is_all_nan_like_talib() -> None:
    close = np.array([1.0, 2.0, 3.0])
    assert np.isnan(ema(close, 5)).all() and np.isnan(talib.EMA(close, 5)).all()
    assert np.isnan(sma(close, 5)).all()
