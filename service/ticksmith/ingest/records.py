"""What the decoders take and give: raw records in, tick columns and rejects out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ticksmith.ingest.reasons import Reason


class RecordLike(Protocol):
    """The parts of a Kafka record the decoders read; aiokafka's ConsumerRecord has
    them, so fetched records are decoded as they are, without a copy."""

    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A record built by hand (tests, tools)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Rejected:
    index: int  # position of the record in the decoder's input
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class Columns:
    """Ticks parsed from some records, before value checks; `record` maps each
    tick to the position of its record in the decoder's input."""

    record: npt.NDArray[np.intp]
    symbol: npt.NDArray[np.object_]
    ts_ns: npt.NDArray[np.int64]
    price: npt.NDArray[np.float64]
    size: npt.NDArray[np.float64]
    side: npt.NDArray[np.int8]

    def take(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> Columns:
        return Columns(
            record=self.record[index],
            symbol=self.symbol[index],
            ts_ns=self.ts_ns[index],
            price=self.price[index],
            size=self.size[index],
            side=self.side[index],
        )

    @staticmethod
    def concat(parts: list[Columns]) -> Columns:
        return Columns(*(np.concatenate([getattr(p, f) for p in parts]) for f in Columns.__slots__))
