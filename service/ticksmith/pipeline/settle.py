"""The commit settler: a batch's offsets are committed only once its effects are acknowledged.

Up to MAX_IN_FLIGHT batches settle while the next ones are fetched and applied,
so the broker's round trips (acknowledgements, then the commit) overlap the work
instead of holding the next fetch. Each batch's settle first waits for the one
before it, so commits stay in batch order and a failure stops every later
commit. The steps, in the order :meth:`Settler._settle` runs them:

0. wait until the batch before settled;
1. wait until the broker acknowledged the batch's output records;
2. wait until it acknowledged the batch's dead letters;
3. commit the batch's offsets to the group;
4. remember them as committed, and observe the batch's end-to-end latency: from
   the Kafka timestamp of its oldest record (the first of each partition's run)
   to now, when its effects are acknowledged and its offsets committed.

A failure at step 0, 1 or 2 means step 3 never runs: nothing past a record whose
effects were not acknowledged is committed. The failure is kept and raised by
the next :meth:`Settler.submit`, :meth:`Settler.settled` or
:meth:`Settler.raise_failure`, which stops the member; a restart replays from the
last commit (at-least-once). A commit
the group refused because it rebalanced (``CommitFailedError``) is not a
failure: the partitions' new owner replays the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Protocol

from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError

from ticksmith.errors import TicksmithError
from ticksmith.metrics import Metrics

log = logging.getLogger(__name__)
MAX_IN_FLIGHT = 4  # batches settling at once; a fifth waits for the oldest


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
        self._in_flight: deque[asyncio.Task[None]] = deque()  # oldest first
        self.committed: dict[TopicPartition, int] = {}

    async def submit(self, effects: Effects) -> None:
        """Start settling a batch after those in flight; with MAX_IN_FLIGHT of them,
        first wait for the oldest (raising its failure)."""
        self.raise_failure()
        while len(self._in_flight) >= MAX_IN_FLIGHT:
            await asyncio.wait({self._in_flight[0]})
            self.raise_failure()
        previous = self._in_flight[-1] if self._in_flight else None
        self._in_flight.append(asyncio.create_task(self._settle(effects, previous)))

    async def settled(self) -> None:
        """Wait for every batch in flight; raise the first failure."""
        tasks, self._in_flight = list(self._in_flight), deque()
        for failure in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(failure, BaseException):
                raise failure

    def raise_failure(self) -> None:
        """Raise a failure of a batch in flight that already failed (no wait); the
        batches after it will not commit, and are dropped."""
        while self._in_flight and self._in_flight[0].done():
            task = self._in_flight.popleft()
            if task.exception() is not None:
                for later in self._in_flight:
                    later.cancel()
                    later.add_done_callback(_retrieve)
                self._in_flight.clear()
                task.result()

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        for tp in tps:
            self.committed.pop(tp, None)

    async def _settle(self, effects: Effects, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await previous  # 0: its failure is this batch's too
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


def _retrieve(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()


def _offsets(offsets: dict[TopicPartition, int]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]={o}" for tp, o in sorted(offsets.items()))
