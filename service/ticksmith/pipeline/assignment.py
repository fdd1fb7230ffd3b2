"""What the member knows of each partition it was assigned, between two rebalances.

aiokafka hands a new assignment to its fetcher before the rebalance listener
has run, so a ``getmany()`` can return records of a newly assigned partition
fetched from wherever aiokafka started, before the listener's ``seek``. Those
must never be processed: the member would apply them live against an empty
store and then replay them. So every fetch is stamped when it returns, every
seek is stamped when it is made (one clock), and a partition's records count
only if they were returned after its seek; a ``seek`` makes aiokafka drop what
it had fetched for the partition, so the dropped records are fetched again.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import TypeAlias

from aiokafka import ConsumerRecord, TopicPartition

from ticksmith.pipeline.replay import Plan

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
Batch: TypeAlias = dict[TopicPartition, list[Record]]


class Assignment:
    def __init__(self) -> None:
        self._clock = itertools.count()
        self._seeked_at: dict[TopicPartition, int] = {}
        self.warm_until: dict[TopicPartition, int] = {}  # replay ends at this offset
        self.next_offsets: dict[TopicPartition, int] = {}  # after the last record processed
        self.last_timestamp_ms: dict[TopicPartition, int] = {}
        self.unfloored: set[TopicPartition] = set()  # cut short, first ticks not seen yet

    @property
    def partitions(self) -> set[TopicPartition]:
        return set(self._seeked_at)

    @property
    def warming_up(self) -> bool:
        return bool(self.warm_until)

    def now(self) -> int:
        """A stamp: call as soon as a fetch returns."""
        return next(self._clock)

    def start(self, tp: TopicPartition, plan: Plan) -> None:
        """The partition was just seeked to `plan.seek`."""
        self._seeked_at[tp] = next(self._clock)
        self.next_offsets[tp] = plan.seek
        if plan.live_from > plan.seek:
            self.warm_until[tp] = plan.live_from
        if plan.cut_short:
            self.unfloored.add(tp)

    def current(self, batch: Batch, fetched_at: int) -> tuple[Batch, int]:
        """The part of a fetch returned after its partitions' seeks, and how many
        records were left out (fetched before the seek, or not assigned)."""
        keep = {
            tp: records
            for tp, records in batch.items()
            if self._seeked_at.get(tp, fetched_at) < fetched_at
        }
        if len(keep) == len(batch):
            return batch, 0
        return keep, sum(len(rs) for tp, rs in batch.items() if tp not in keep)

    def split(self, batch: Batch) -> tuple[list[Record], Batch]:
        """Warm-up records (state only) and live ones."""
        warm: list[Record] = []
        live: Batch = {}
        for tp, records in batch.items():
            until = self.warm_until.get(tp, -1)
            if records[0].offset >= until:  # the usual case: all live
                live[tp] = records
                continue
            warm += [r for r in records if r.offset < until]
            rest = [r for r in records if r.offset >= until]
            if rest:
                live[tp] = rest
        return warm, live

    def processed(self, batch: Batch) -> list[TopicPartition]:
        """Record that `batch` was processed; return the partitions whose warm-up it ended."""
        done = []
        for tp, records in batch.items():
            self.next_offsets[tp] = max(self.next_offsets.get(tp, 0), records[-1].offset + 1)
            if records[-1].timestamp >= 0:  # not a stand-in for an unreadable record
                self.last_timestamp_ms[tp] = records[-1].timestamp
            if tp in self.warm_until and records[-1].offset + 1 >= self.warm_until[tp]:
                del self.warm_until[tp]
                done.append(tp)
        return done

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        for tp in tps:
            self._seeked_at.pop(tp, None)
            self.warm_until.pop(tp, None)
            self.next_offsets.pop(tp, None)
            self.last_timestamp_ms.pop(tp, None)
            self.unfloored.discard(tp)
