"""What applying a batch (or a wall-clock advance) to the store returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from ticksmith.bar import BarKey
from ticksmith.store.bars import Bars
from ticksmith.ticks import TickBatch

Closed = dict[BarKey, dict[str, Bars]]  # interval_ms or label -> symbol -> closed bars


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What a batch (or a wall-clock advance) did."""

    late: TickBatch  # ticks refused: their bar had closed
    refused: TickBatch  # ticks refused: their symbol is new and the store is full
    closed: Closed = field(default_factory=dict)
    evicted: Closed = field(default_factory=dict)  # bars pushed out of history, oldest first
    partial_dropped: int = 0
    expired: list[str] = field(default_factory=list)  # symbols forgotten after this batch

    @property
    def bars_closed(self) -> int:
        return sum(len(rows) for by_symbol in self.closed.values() for rows in by_symbol.values())
