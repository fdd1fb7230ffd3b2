import gc
import weakref

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from ticksmith.cache.proxy_cache import Key, ProxyCache
from ticksmith.metrics import Metrics


class FakeSource:
    """Deterministic frames keyed by symbol; `versions` lets a test make one stale."""

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}
        self.computed = 0

    def version(self, key: Key) -> int:
        return self.versions.get(key.symbol, 0)

    def compute(self, key: Key) -> pd.DataFrame:
        self.computed += 1
        seed = sum(map(ord, key.symbol)) + self.version(key)
        return pd.DataFrame({"close": np.random.default_rng(seed).random(1_000)})


def key(symbol: str) -> Key:
    return Key(symbol, "indicators", 1000)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def make(budget: int, registry: CollectorRegistry) -> tuple[ProxyCache, FakeSource]:
    source = FakeSource()
    return ProxyCache(budget, {"indicators": source}, Metrics(registry)), source


def test_a_reader_gets_a_proxy_that_reads_like_the_frame(registry: CollectorRegistry) -> None:
    cache, source = make(10**9, registry)
    proxy: pd.DataFrame = cache.get(key("A"))  # reads as the frame it stands for
    is_proxy = type(proxy) is weakref.ProxyType
    assert is_proxy
    pd.testing.assert_frame_equal(proxy[["close"]], source.compute(key("A")))


def test_eviction_kills_held_proxies_and_the_read_path_recomputes_identical_values(
    registry: CollectorRegistry,
) -> None:
    cache, source = make(20_000, registry)  # room for about two 8 kB frames
    held = {s: cache.get(key(s)) for s in "ABCDE"}
    original = {s: source.compute(key(s)) for s in "ABCDE"}
    with pytest.raises(ReferenceError):
        held["A"]["close"].sum()
    assert cache.strong_bytes <= 20_000
    for s in "ABCDE":
        value = cache.read(key(s), lambda frame: frame["close"].to_numpy().copy())
        np.testing.assert_array_equal(value, original[s]["close"].to_numpy())
    evicted = registry.get_sample_value("ticksmith_cache_evictions_total", {"reason": "budget"})
    recomputed = registry.get_sample_value(
        "ticksmith_cache_recomputes_total", {"trigger": "reclaimed"}
    )
    # two frames fit: getting C, D, E evicted A, B, C; then each read finds its frame
    # reclaimed, rebuilds it and evicts the least recently used of the two held
    assert (evicted, recomputed) == (8, 5)


def test_read_recomputes_when_the_proxy_dies_between_get_and_use(
    registry: CollectorRegistry,
) -> None:
    cache, _ = make(10**9, registry)

    def use(frame: pd.DataFrame) -> float:
        if cache.evict_to(0):  # memory pressure strikes in the middle of the read
            gc.collect()
        return float(frame["close"].sum())

    total = cache.read(key("A"), use)
    assert total == pytest.approx(FakeSource().compute(key("A"))["close"].sum())
    assert registry.get_sample_value("ticksmith_cache_reference_errors_total") == 1


def test_a_pinned_value_survives_eviction_until_unpinned(registry: CollectorRegistry) -> None:
    cache, _ = make(10**9, registry)
    proxy = cache.get(key("A"))
    with cache.pin(key("A")) as frame:
        cache.evict_to(0)
        assert len(proxy) == 1_000 and len(frame) == 1_000
        del frame
    with pytest.raises(ReferenceError):
        len(proxy)


def test_a_reader_never_gets_a_value_older_than_the_store(registry: CollectorRegistry) -> None:
    cache, source = make(10**9, registry)
    before = cache.read(key("A"), lambda f: f["close"].to_numpy().copy())
    source.versions["A"] = 1  # a bar closed
    after = cache.read(key("A"), lambda f: f["close"].to_numpy().copy())
    np.testing.assert_array_equal(after, source.compute(key("A"))["close"].to_numpy())
    assert not np.array_equal(before, after)
    assert registry.get_sample_value("ticksmith_cache_recomputes_total", {"trigger": "stale"}) == 1


def test_revoked_symbols_leave_the_cache(registry: CollectorRegistry) -> None:
    cache, _ = make(10**9, registry)
    proxies = [cache.get(key(s)) for s in "AB"]
    cache.drop_symbols({"A"})
    assert len(cache) == 1
    with pytest.raises(ReferenceError):
        len(proxies[0])
    assert len(proxies[1]) == 1_000
