"""What reading through a weakref.proxy costs, against direct access and a Python wrapper.

Three ways to reach the same object: the object itself, ``weakref.proxy(obj)``, and
a Python class whose ``__getattr__`` (plus ``__getitem__``/``__len__``, which
``__getattr__`` never sees) dereferences a ``weakref.ref``. Each case is timed with
timeit after a warm-up round, the three variants alternating within every round
(order reversed every other round) so drift hits them alike. Figures are ns per
operation, including timeit's loop (``loop`` below is that loop alone): median,
and min-max over the rounds. The last line is ``RESULT proxy ...`` with plain
numbers: each case's direct median, the proxy and wrapper medians as ratios of
it, and ``_best`` ratios of the fastest rounds (least disturbed by other load on
a shared machine). The load average is printed before and after.

    .venv/bin/python bench/proxy.py [--rounds 21] [--target-ms 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import timeit
import weakref
from typing import Any

import numpy as np
import pandas as pd

from _timing import alternating


class Bar:
    def __init__(self) -> None:
        self.close = 101.5


class RefWrapper:
    """The alternative to weakref.proxy: forward by hand through a weakref.ref."""

    __slots__ = ("_ref",)

    def __init__(self, target: object) -> None:
        self._ref = weakref.ref(target)

    def _target(self) -> Any:
        target = self._ref()
        if target is None:
            raise ReferenceError("weakly-referenced object no longer exists")
        return target

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target(), name)

    def __getitem__(self, key: Any) -> Any:
        return self._target()[key]

    def __len__(self) -> int:
        return len(self._target())


CASES = {
    "loop": ("bar", "o"),
    "attr": ("bar", "o.close"),
    "shape": ("frame", "o.shape"),
    "len": ("frame", "len(o)"),
    "last": ("frame", 'o["close"].iloc[-1]'),
    "mean": ("frame", 'o["close"].mean()'),
    "read": ("frame", '(o["close"].iloc[-1], o.shape, len(o), o["close"].mean())'),
}
VARIANTS = ("direct", "proxy", "wrapper")


def subjects() -> dict[str, object]:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {"close": rng.random(1_000), "volume": rng.integers(1, 100, 1_000)},
        index=pd.date_range("2024-01-01", periods=1_000, freq="s"),
    )
    return {"bar": Bar(), "frame": frame}


def timers(target: object, stmt: str) -> dict[str, timeit.Timer]:
    views = {"direct": target, "proxy": weakref.proxy(target), "wrapper": RefWrapper(target)}
    return {name: timeit.Timer(stmt, globals={"o": view}) for name, view in views.items()}


def measure(case: dict[str, timeit.Timer], rounds: int, target_s: float) -> dict[str, list[float]]:
    """ns per operation for each variant, `rounds` times, after one warm-up round."""
    return alternating(case, rounds, target_s, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--target-ms", type=float, default=10.0)
    args = parser.parse_args()
    objects = subjects()
    results: dict[str, dict[str, list[float]]] = {}
    print(f"python {sys.version.split()[0]}, pandas {pd.__version__}, numpy {np.__version__}")
    print(f"load average before: {_load()}")
    print(
        f"{'case':<6} {'variant':<8} {'median ns':>10} {'min-max ns':>20} {'ratio':>6} {'best':>6}"
    )
    for case, (subject, stmt) in CASES.items():
        results[case] = measure(timers(objects[subject], stmt), args.rounds, args.target_ms / 1000)
        for name, ns in results[case].items():
            ratio, best = _ratios(results[case], name)
            spread = f"{min(ns):.1f}-{max(ns):.1f}"
            median = statistics.median(ns)
            print(f"{case:<6} {name:<8} {median:>10.1f} {spread:>20} {ratio:>6.2f} {best:>6.2f}")
    print(f"load average after: {_load()}")
    print(result_line(results, args.rounds))


def _ratios(by_variant: dict[str, list[float]], name: str) -> tuple[float, float]:
    """(median ratio, best-round ratio) of variant `name` against direct access."""
    mine, direct = by_variant[name], by_variant["direct"]
    return statistics.median(mine) / statistics.median(direct), min(mine) / min(direct)


def _load() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def result_line(results: dict[str, dict[str, list[float]]], rounds: int) -> str:
    fields = [f"rounds={rounds}"]
    for case, by_variant in results.items():
        fields.append(f"{case}_direct_ns={statistics.median(by_variant['direct']):.1f}")
        for variant in VARIANTS[1:]:
            ratio, best = _ratios(by_variant, variant)
            fields.append(f"{case}_{variant}_ratio={ratio:.2f}")
            fields.append(f"{case}_{variant}_ratio_best={best:.2f}")
    return "RESULT proxy " + " ".join(fields)


if __name__ == "__main__":
    main()
