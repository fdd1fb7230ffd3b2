"""/metrics as the benchmarks read it: one scrape's samples, and what changed between two."""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from dataclasses import dataclass

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Scrape:
    at: float  # time.monotonic(), the middle of the read
    samples: dict[tuple[str, Labels], float]

    def total(self, name: str, **labels: str) -> float:
        """The sum over every label set of `name` that has `labels`."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= set(ls))

    def by(self, name: str, label: str) -> dict[str, float]:
        """`name` summed per value of `label`."""
        out: dict[str, float] = {}
        for (n, ls), v in self.samples.items():
            if n == name:
                key = dict(ls).get(label, "")
                out[key] = out.get(key, 0.0) + v
        return out

    def buckets(self, name: str) -> dict[float, float]:
        """A histogram's cumulative counts by upper bound, summed over its labels."""
        return {float(le): v for le, v in self.by(f"{name}_bucket", "le").items()}


def parse(text: str, at: float, names: Collection[str] | None = None) -> Scrape:
    """The samples of a /metrics page (only those named in `names`, if given)."""
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if names is None or s.name in names
    }
    return Scrape(at, samples)


async def get_text(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as response:
        response.raise_for_status()
        return await response.text()


async def scrape(
    http: aiohttp.ClientSession, base: str, names: Collection[str] | None = None
) -> Scrape:
    """GET `base`/metrics, stamped at the middle of the read (a scrape takes a while)."""
    before = time.monotonic()
    text = await get_text(http, f"{base}/metrics")
    return parse(text, (before + time.monotonic()) / 2, names)


def delta(a: Scrape, b: Scrape, name: str, **labels: str) -> float:
    return b.total(name, **labels) - a.total(name, **labels)


def delta_by(a: Scrape, b: Scrape, name: str, label: str) -> dict[str, float]:
    """The change of `name` per value of `label`, only the values that changed."""
    before, after = a.by(name, label), b.by(name, label)
    changes = {k: v - before.get(k, 0.0) for k, v in sorted(after.items())}
    return {k: v for k, v in changes.items() if v}


def bucket_quantile(a: Scrape, b: Scrape, name: str, q: float) -> float:
    """The upper bound of the histogram bucket that holds the q-quantile of the
    observations made between two scrapes (q=1: the largest; inf past the last bound;
    nan if none)."""
    before, after = a.buckets(name), b.buckets(name)
    total = after.get(math.inf, 0.0) - before.get(math.inf, 0.0)
    if total <= 0:
        return math.nan
    return next(le for le in sorted(after) if after[le] - before.get(le, 0.0) >= q * total)


def quick_total(text: str, name: str) -> float:
    """The sum of `name`'s samples, by the lines' prefix alone: for sampling worker processes
    every few ms, where a full parse of each page would take the shared cores' time."""
    prefixes = (f"{name}{{", f"{name} ")
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith(prefixes))
