"""What the decoders take and give: raw records in, tick columns and rejects out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ticksmith.ingest.reasons import Reason
from ticksmith.ticks import Ticks


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
    @property
    def timestamp(self) -> int: ...  # ms since the epoch; -1 when the record has none


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A record built by hand (tests, tools)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int = -1  # none: the skew check falls back to the wall clock


MAX_SYMBOL_BYTES = 255  # a symbol is 1..255 bytes of UTF-8, in every format
PAD = bytes(32)  # joined values end with this, so fixed-size reads past the end are safe


@dataclass(frozen=True, slots=True)
class Values:
    """What a codec parses: the values and keys of some records of the decoder's
    input (`index`: their positions there), their lengths, and the values joined
    and padded with PAD when the decoder already joined exactly these."""

    values: list[bytes]
    keys: list[bytes | None]
    index: npt.NDArray[np.intp]
    length: npt.NDArray[np.int64]
    joined: bytes | None = None

    def take(self, index: npt.NDArray[np.intp]) -> Values:
        at = index.tolist()
        return Values(
            [self.values[i] for i in at], [self.keys[i] for i in at], index, self.length[index]
        )


@dataclass(frozen=True, slots=True)
class Rejected:
    index: int  # position of the record in the decoder's input
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class Columns(Ticks):
    """Ticks parsed from some records, before value checks; `record` maps each
    tick to the position of its record in the decoder's input (decode.py turns
    it into the :class:`TickBatch`'s partition and offset)."""

    record: npt.NDArray[np.intp]
