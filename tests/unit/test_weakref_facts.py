"""What `weakref.proxy` and weak references really do on this Python, pinned.

One test per fact of shared/WEAKREF.md; docs/weakref.md names these tests. If a
Python or pandas upgrade changes a fact, its test fails and the docs and the
cache's design must be looked at again.
"""

from __future__ import annotations

import copy
import gc
import pickle
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

DEAD = "weakly-referenced object no longer exists"


def make_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({"close": rng.random(100), "volume": rng.integers(1, 9, 100)})


@pytest.fixture
def frame() -> pd.DataFrame:
    """A frame the test may not kill: pytest keeps a reference to fixture values."""
    return make_frame()


@pytest.fixture
def gc_disabled() -> Iterator[None]:
    """No automatic collection during the test: whatever dies, dies by refcount."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def proxy_to(referent: object) -> Any:
    """`weakref.proxy`, typed as what it stands for (typeshed cannot tell callables apart)."""
    return weakref.proxy(referent)


def dead_proxy() -> Any:
    referent = pd.DataFrame({"close": [1.0, 2.0]})
    proxy = proxy_to(referent)
    del referent
    return proxy


# -- a proxy to a live referent -------------------------------------------------------------

FORWARDED: dict[str, Callable[[Any], Any]] = {
    "len": lambda f: len(f),
    "iter": lambda f: list(iter(f)),
    "getitem": lambda f: f["close"].tolist(),
    "attribute": lambda f: f.close.mean(),
    "add": lambda f: (f + 1)["close"].tolist(),
    "asarray": lambda f: np.asarray(f).tolist(),
}


@pytest.mark.parametrize("operation", FORWARDED.values(), ids=list(FORWARDED))
def test_operations_on_a_proxy_are_forwarded_to_the_referent(
    frame: pd.DataFrame, operation: Callable[[Any], Any]
) -> None:
    assert operation(proxy_to(frame)) == operation(frame)


def test_isinstance_sees_the_referents_class(frame: pd.DataFrame) -> None:
    proxy = proxy_to(frame)
    assert isinstance(proxy, pd.DataFrame)
    assert proxy.__class__ is pd.DataFrame


def test_type_of_a_proxy_is_proxytype_or_callableproxytype(frame: pd.DataFrame) -> None:
    def function() -> int:
        return 1

    assert type(proxy_to(frame)) is weakref.ProxyType
    assert type(proxy_to(function)) is weakref.CallableProxyType
    assert proxy_to(function)() == 1


def test_a_proxy_is_not_its_referent_and_has_another_id(frame: pd.DataFrame) -> None:
    proxy = proxy_to(frame)
    assert proxy is not frame
    assert id(proxy) != id(frame)


def test_hash_of_a_proxy_raises_typeerror(frame: pd.DataFrame) -> None:
    proxy = proxy_to(frame)
    with pytest.raises(TypeError, match="unhashable"):
        hash(proxy)
    with pytest.raises(TypeError, match="unhashable"):
        {proxy: 1}  # noqa: B018 -- a dict key needs a hash
    with pytest.raises(TypeError, match="unhashable"):
        {proxy}  # noqa: B018


def test_deepcopy_of_a_proxy_returns_an_independent_strong_copy() -> None:
    frame = make_frame()
    clone = copy.deepcopy(proxy_to(frame))
    assert type(clone) is pd.DataFrame
    pd.testing.assert_frame_equal(clone, frame)
    assert not np.shares_memory(clone["close"].to_numpy(), frame["close"].to_numpy())
    alive = weakref.ref(frame)
    del frame
    assert alive() is None
    assert len(clone) == 100  # the copy outlives the referent: it is a strong object


def test_pickle_of_a_proxy_pickles_the_referent(frame: pd.DataFrame) -> None:
    restored = pickle.loads(pickle.dumps(proxy_to(frame)))
    assert type(restored) is pd.DataFrame
    pd.testing.assert_frame_equal(restored, frame)
    assert not np.shares_memory(restored["close"].to_numpy(), frame["close"].to_numpy())


def test_copy_of_a_proxy_is_a_strong_frame_that_shares_the_referents_data() -> None:
    """copy.copy looks up __copy__ on type(proxy), finds none, and rebuilds the frame from
    the forwarded __reduce_ex__: a new, strong DataFrame over the *same* internal manager,
    so copy-on-write does not separate them (unlike copy.copy(frame))."""
    frame = make_frame()
    clone = copy.copy(proxy_to(frame))
    assert type(clone) is pd.DataFrame and clone is not frame
    pd.testing.assert_frame_equal(clone, frame)
    clone.loc[0, "close"] = -1.0
    assert frame.loc[0, "close"] == -1.0  # the write went into the referent
    direct = copy.copy(frame)
    direct.loc[1, "close"] = -2.0
    assert frame.loc[1, "close"] != -2.0  # a copy of the frame itself is separate
    alive = weakref.ref(frame)
    del frame, direct
    assert alive() is None
    assert clone.loc[0, "close"] == -1.0  # and the copy keeps the data alive


def test_pandas_concat_and_merge_accept_a_proxy(frame: pd.DataFrame) -> None:
    proxy = proxy_to(frame)
    assert len(pd.concat([proxy, frame])) == 200
    merged = frame.merge(proxy, on="volume", suffixes=("", "_p"))
    assert merged.equals(frame.merge(frame.copy(), on="volume", suffixes=("", "_p")))


# -- after the referent is gone, and what can be weakly referenced ---------------------------

DEAD_ACCESS: dict[str, Callable[[Any], Any]] = {
    "len": lambda p: len(p),
    "getitem": lambda p: p["close"],
    "attribute": lambda p: p.shape,
    "bool": lambda p: bool(p),
    "str": lambda p: str(p),
    "isinstance": lambda p: isinstance(p, pd.DataFrame),
    "copy": lambda p: copy.copy(p),
}


@pytest.mark.parametrize("access", DEAD_ACCESS.values(), ids=list(DEAD_ACCESS))
def test_access_through_a_dead_proxy_raises_referenceerror(access: Callable[[Any], Any]) -> None:
    with pytest.raises(ReferenceError, match=DEAD):
        access(dead_proxy())


def test_repr_and_type_of_a_dead_proxy_do_not_raise() -> None:
    proxy = dead_proxy()
    assert repr(proxy).startswith("<weakproxy at ")
    assert type(proxy) is weakref.ProxyType


@pytest.mark.parametrize("value", [1, 1.5, "abc", b"abc", {}, (1,), [1], None], ids=repr)
def test_builtins_without_a_weakref_slot_cannot_be_weakly_referenced(value: object) -> None:
    with pytest.raises(TypeError, match="cannot create weak reference to"):
        weakref.ref(value)


class Text(str):
    pass


class Table(dict[str, int]):
    pass


@pytest.mark.parametrize("value", [Text("abc"), Table(a=1)], ids=["str", "dict"])
def test_subclasses_of_str_and_dict_can_be_weakly_referenced(value: object) -> None:
    assert weakref.ref(value)() is value


@pytest.mark.parametrize(
    "value",
    [np.arange(3.0), pd.Series([1.0]), pd.DataFrame({"a": [1.0]}), pd.Index([1, 2])],
    ids=["ndarray", "Series", "DataFrame", "Index"],
)
def test_numpy_and_pandas_objects_can_be_weakly_referenced(value: object) -> None:
    assert weakref.ref(value)() is value
    assert len(proxy_to(value)) == len(value)  # type: ignore[arg-type]


class Node:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log
        self.other: Node | None = None

    def __del__(self) -> None:
        self.log.append(f"del {self.name}")


def noting(log: list[str], line: str) -> Callable[[object], None]:
    return lambda _: log.append(line)


def test_a_cycle_with_del_is_collected_by_gc_collect_with_callbacks_run(
    gc_disabled: None,
) -> None:
    log: list[str] = []
    a, b = Node("a", log), Node("b", log)
    a.other, b.other = b, a
    refs = [weakref.ref(n, noting(log, f"callback {n.name}")) for n in (a, b)]
    del a, b
    assert log == []  # the cycle keeps both alive until a collection
    gc.collect()
    assert sorted(log) == ["callback a", "callback b", "del a", "del b"]
    assert [r() for r in refs] == [None, None]
    assert not [o for o in gc.garbage if isinstance(o, Node)]


class Plain:
    pass


@pytest.mark.parametrize(
    "make", [Plain, lambda: pd.DataFrame({"close": np.arange(1_000.0)})], ids=["object", "frame"]
)
def test_dropping_the_last_strong_reference_kills_at_once_and_runs_the_callback(
    gc_disabled: None, make: Callable[[], object]
) -> None:
    log: list[str] = []
    value = make()
    ref = weakref.ref(value, lambda _: log.append("callback"))
    del value
    assert log == ["callback"]  # no collection ran: gc is disabled
    assert ref() is None


def owner(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The array that owns the memory `array` views."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def test_a_series_taken_from_a_frame_keeps_the_frames_data_alive(gc_disabled: None) -> None:
    rows = 100_000
    frame = pd.DataFrame({name: np.arange(rows, dtype=np.float64) for name in "abcd"})
    column = frame["a"]
    alive = weakref.ref(frame)
    del frame
    assert alive() is None  # the frame is gone ...
    assert owner(column.to_numpy()).nbytes == 4 * rows * 8  # ... all four of its columns are not
    assert column.iloc[-1] == rows - 1
