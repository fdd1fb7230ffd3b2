"""The commit settler: offsets are committed only once their batch's effects are
acknowledged, at most every ``kafka.commit_interval_ms``.

Up to MAX_IN_FLIGHT batches settle while the next ones are fetched and applied,
so the broker's round trips overlap the work instead of holding the next fetch.
Each batch's settle first waits for the one before it, so offsets are
acknowledged in batch order and a failure stops every later batch. The steps, in
the order :meth:`Settler._settle` runs them:

0. wait until the batch before settled;
1. wait until the broker acknowledged the batch's output records;
2. wait until it acknowledged the batch's dead letters;
3. merge the batch's offsets into those acknowledged but not yet committed, and
   observe its end-to-end latency: from the Kafka timestamp of its oldest record
   (the first of each partition's run) to now, when its effects are acknowledged;
4. commit. With an interval of 0 the batch commits here, before the next one
   merges. Otherwise a committer task commits everything acknowledged once the
   interval passed since the last commit (or the start), so within about the
   interval even if no batch follows; each commit stands for every batch
   acknowledged since the last one.

One commit is in flight at a time, so commits reach the group in order, and none
moves a partition's offset back. :meth:`Settler.settled` (on a revocation and on
a stop) waits for every batch in flight, then commits all they acknowledged;
:meth:`Settler.forget` drops revoked partitions from what is still to commit.

A failure at step 0, 1 or 2 means step 3 never runs, for that batch or any after
it: nothing past a record whose effects were not acknowledged is committed. The
failure, like a failed commit, is kept and raised by the next
:meth:`Settler.submit`, :meth:`Settler.settled` or :meth:`Settler.raise_failure`,
which stops the member; after a failed commit nothing more is committed. A
restart replays from the last commit (at-least-once): the uncommitted tail, at
most about the interval of acknowledged batches plus those in flight. A commit
the group refused because it rebalanced (``CommitFailedError``) is not a
failure: the partitions' new owner replays the batches.
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
    def __init__(self, consumer: Committer, metrics: Metrics, *, commit_interval_ms: int) -> None:
        self._consumer = consumer
        self._metrics = metrics
        self._interval_s = commit_interval_ms / 1000
        self._in_flight: deque[asyncio.Task[None]] = deque()  # oldest first
        self._acked: dict[TopicPartition, int] = {}  # acknowledged, not yet committed
        self._last_commit = time.monotonic()  # the first commit waits an interval too
        self._commit_lock = asyncio.Lock()  # one commit in flight: they reach the group in order
        self._committer: asyncio.Task[None] | None = None
        self._failure: SettleFailed | None = None  # a failed commit's; none after it
        self.committed: dict[TopicPartition, int] = {}  # the offsets the group accepted

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
        """Wait for every batch in flight and commit all they acknowledged (up to a
        failed one); raise the first failure."""
        tasks, self._in_flight = list(self._in_flight), deque()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await self._commit()
        self._stop_committer()
        for failure in results:
            if isinstance(failure, BaseException):
                raise failure
        self._raise_commit_failure()

    def raise_failure(self) -> None:
        """Raise a failure of a batch in flight that already failed, or of a commit
        (no wait); the batches after a failed one will not commit, and are dropped."""
        while self._in_flight and self._in_flight[0].done():
            task = self._in_flight.popleft()
            if task.exception() is not None:
                for later in self._in_flight:
                    later.cancel()
                    later.add_done_callback(_retrieve)
                self._in_flight.clear()
                task.result()
        self._raise_commit_failure()

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        """Revoked partitions: what they committed, and never commit what they acknowledged."""
        for tp in tps:
            self.committed.pop(tp, None)
            self._acked.pop(tp, None)

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
        self._acknowledged(effects)  # 3
        if self._interval_s:  # 4
            self._commit_soon()
        else:
            await self._commit()
            self._raise_commit_failure()

    def _acknowledged(self, effects: Effects) -> None:
        for tp, offset in effects.offsets.items():
            self._acked[tp] = max(offset, self._acked.get(tp, offset))
        if effects.written_s is not None:  # a producer clock ahead of ours reads 0
            latency = max(0.0, time.time() - effects.written_s)
            self._metrics.end_to_end_seconds.observe(latency)

    def _commit_soon(self) -> None:
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_on_interval())

    async def _commit_on_interval(self) -> None:
        while self._acked and self._failure is None:
            await asyncio.sleep(self._last_commit + self._interval_s - time.monotonic())
            await self._commit()

    def _stop_committer(self) -> None:
        """Nothing left to commit: the committer need not wake. (It is not committing:
        the caller just held the commit lock, and has not let it run since.)"""
        if self._committer is not None and not self._acked:
            self._committer.cancel()
            self._committer = None

    async def _commit(self) -> None:
        """Commit everything acknowledged past what the group has; keep a failure."""
        async with self._commit_lock:
            offsets, self._acked = self._past_committed(self._acked), {}
            if not offsets or self._failure is not None:
                return
            self._last_commit = time.monotonic()
            try:
                if await self._send(offsets):
                    self.committed.update(offsets)
            except SettleFailed as failure:
                self._failure = failure

    def _past_committed(self, offsets: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        """The offsets a commit may carry: it never moves a partition back."""
        return {tp: o for tp, o in offsets.items() if o > self.committed.get(tp, -1)}

    async def _send(self, offsets: dict[TopicPartition, int]) -> bool:
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

    def _raise_commit_failure(self) -> None:
        if self._failure is not None:
            raise self._failure


def _retrieve(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()


def _offsets(offsets: dict[TopicPartition, int]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]={o}" for tp, o in sorted(offsets.items()))
