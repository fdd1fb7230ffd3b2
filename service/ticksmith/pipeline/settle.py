"""The commit settler: a batch's offsets are committed only once its effects are acknowledged.

One batch at most is in flight. It settles while the next batch is fetched and
applied, so the broker's round trips overlap the work; commits stay in batch
order. The steps, in the order :meth:`Settler._settle` runs them:

1. wait until the broker acknowledged the batch's output records;
2. wait until it acknowledged the batch's dead letters;
3. commit the batch's offsets to the group;
4. remember them as committed, and observe the batch's end-to-end latency: from
   the Kafka timestamp of its oldest record (the first of each partition's run)
   to now, when its effects are acknowledged and its offsets committed.

A failure at step 1 or 2 means step 3 never runs: nothing past a record whose
effects were not acknowledged is committed. The failure is kept and raised by
the next :meth:`Settler.settled` (or :meth:`Settler.raise_failure`), which stops
the member; a restart replays from the last commit (at-least-once). A commit
the group refused because it rebalanced (``CommitFailedError``) is not a
failure: the partitions' new owner replays the batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Protocol

from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError

from ticksmith.errors import TicksmithError
from ticksmith.monitor.metrics import Metrics

log = logging.getLogger(__name__)


class SettleFailed(TicksmithError):
    """A batch's effects were not acknowledged, or its commit failed: the member stops."""


class Committer(Protocol):
    async def commit(self, offsets: dict[TopicPartition, int]) -> None: ...


@dataclass(frozen=True, slots=True)
class Effects:
    """One batch's effects, handed to the producer but not yet acknowledged."""

    outputs: Awaitable[object]
    dead_letters: Awaitable[object]
    offsets: dict[TopicPartition, int]  # the next offset to read, per partition
    written_s: float | None = None  # Kafka timestamp of the batch's oldest record, seconds


class Settler:
    def __init__(self, consumer: Committer, metrics: Metrics) -> None:
        self._consumer = consumer
        self._metrics = metrics
        self._in_flight: asyncio.Task[None] | None = None
        self.committed: dict[TopicPartition, int] = {}

    def submit(self, effects: Effects) -> None:
        """Start settling a batch; the one before must have settled."""
        assert self._in_flight is None, "settle the batch before first"
        self._in_flight = asyncio.create_task(self._settle(effects))

    async def settled(self) -> None:
        """Wait for the batch in flight, if any; raise its failure."""
        task, self._in_flight = self._in_flight, None
        if task is not None:
            await task

    def raise_failure(self) -> None:
        """Raise the failure of the batch in flight if it already failed (no wait)."""
        task = self._in_flight
        if task is not None and task.done() and task.exception() is not None:
            self._in_flight = None
            task.result()

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        for tp in tps:
            self.committed.pop(tp, None)

    async def _settle(self, effects: Effects) -> None:
        try:
            await effects.outputs  # 1
            await effects.dead_letters  # 2
        except Exception as exc:
            raise SettleFailed(
                f"the broker did not acknowledge a batch's outputs or dead letters ({exc!r});"
                f" its offsets {_offsets(effects.offsets)} were not committed, and a restart"
                " replays from the last commit"
            ) from exc
        if await self._commit(effects.offsets):  # 3
            self.committed.update(effects.offsets)  # 4
            if effects.written_s is not None:  # a producer clock ahead of ours reads 0
                latency = max(0.0, time.time() - effects.written_s)
                self._metrics.end_to_end_seconds.observe(latency)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> bool:
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError as exc:
            log.warning("commit refused, the group rebalanced; the new owner replays: %s", exc)
            return False
        except Exception as exc:
            raise SettleFailed(
                f"committing offsets {_offsets(offsets)} failed ({exc!r}); a restart replays"
                " from the last commit"
            ) from exc
        self._metrics.commits.inc()
        return True


def _offsets(offsets: dict[TopicPartition, int]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]={o}" for tp, o in sorted(offsets.items()))
