"""What a bar is, described once: each field's name, type and meaning.

The store keeps a bar as the fields in ``STORED`` (``store.bars.BAR_DTYPE``).
Readers get its start and the fields in ``SERVED``, in that order, whichever
way they read: the output topic's records (``output.BarRecord``), the API's
rows (``api/openapi.py`` describes them from here) and the cache's frames
(``cache/frames.py``). VWAP is served in place of the notional the store keeps,
because a notional adds up when bars are rolled up and merged, and a VWAP
does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    dtype: type[np.int64] | type[np.float64]
    description: str
    nullable: bool = False  # undefined for some bars: NaN in numpy, null in JSON

    @property
    def json_type(self) -> Literal["integer", "number"]:
        return "integer" if self.dtype is np.int64 else "number"


START = Field(
    "start_ns",
    np.int64,
    "Bar start, ns since the epoch: the bar covers [start, start + interval), or for a"
    " day or week bar in a bars.timezone with DST to the next one's start (23 or 25 h days).",
)
OPEN = Field("open", np.float64, "Price of the bar's first tick in event time.")
HIGH = Field("high", np.float64, "Highest price.")
LOW = Field("low", np.float64, "Lowest price.")
CLOSE = Field("close", np.float64, "Price of the bar's last tick in event time.")
VOLUME = Field("volume", np.float64, "Sum of the ticks' sizes.")
NOTIONAL = Field("notional", np.float64, "Sum of the ticks' price * size.")
VWAP = Field(
    "vwap", np.float64, "Volume-weighted average price; null when the volume is zero.", True
)
COUNT = Field("count", np.int64, "Ticks in the bar.")

STORED = (START, OPEN, HIGH, LOW, CLOSE, VOLUME, NOTIONAL, COUNT)
SERVED = (OPEN, HIGH, LOW, CLOSE, VOLUME, VWAP, COUNT)  # after the start, in readers' order
START_COLUMN = "start"  # the start's name in the API's rows and the frames' index

# Activity bars (docs/bars.md): a bar set closes a bar on the tick that brings its
# measure (the bar's field named here) to the threshold
ActivityKind = Literal["ticks", "volume", "dollars"]
MEASURE: dict[str, str] = {"ticks": COUNT.name, "volume": VOLUME.name, "dollars": NOTIONAL.name}
BarKey = int | str  # a set of bars: a time interval in ms, or an activity set's label


@dataclass(frozen=True, slots=True)
class ActivitySet:
    """Tick, volume or dollar bars of one threshold (``bars.ticks`` … ``bars.dollars``)."""

    kind: ActivityKind
    threshold: float

    @property
    def label(self) -> str:
        """``kind:threshold``, the threshold as an integer when it is one: ``dollars:1000000``."""
        return f"{self.kind}:{_number(self.threshold)}"

    @property
    def measure(self) -> str:
        return MEASURE[self.kind]

    @classmethod
    def of_label(cls, label: str) -> ActivitySet:
        kind, _, number = label.partition(":")
        assert kind in MEASURE, f"not an activity label: {label!r}"
        return cls(kind, float(number))  # type: ignore[arg-type]

    @property
    def json_threshold(self) -> int | float:
        """The threshold as output records and the API write it."""
        return int(self.threshold) if self.threshold.is_integer() else self.threshold


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def activity_sets(
    ticks: tuple[int, ...], volume: tuple[float, ...], dollars: tuple[float, ...]
) -> tuple[ActivitySet, ...]:
    """The configured activity bar sets, in the order ticks, volume, dollars."""
    kinds: tuple[tuple[ActivityKind, tuple[float, ...]], ...] = (
        ("ticks", tuple(map(float, ticks))),
        ("volume", volume),
        ("dollars", dollars),
    )
    return tuple(ActivitySet(kind, float(t)) for kind, ts in kinds for t in ts)
