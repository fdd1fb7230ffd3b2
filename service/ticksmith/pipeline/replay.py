"""Where a newly assigned partition starts, and how much of it is warm-up replay.

The member resumes each partition at its committed offset ("live from") and
replays a lookback before it in warm-up mode (state only), so the bars forming
at the hand-over are complete when it goes live. A committed offset outside
the log (past its end: the topic was recreated; before its start: retention
deleted it) is not used: ``kafka.auto_offset_reset`` says where to go instead,
and the member warns and counts it. A partition without a committed offset
starts where ``kafka.auto_offset_reset`` says, the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from aiokafka import AIOKafkaConsumer, TopicPartition

log = logging.getLogger(__name__)
Reset = Literal["earliest", "latest"]


@dataclass(frozen=True, slots=True)
class Plan:
    seek: int  # the first offset fetched
    live_from: int  # records before this are warm-up: state only
    beginning: int  # the log's first offset when planned
    reset: str | None = None  # why the committed offset was not used, if it was not

    @property
    def cut_short(self) -> bool:
        """Consumption starts after the log's beginning: bars that began before the
        first tick read may be partial."""
        return self.seek > self.beginning


def plan(
    committed: int | None,
    beginning: int,
    end: int,
    *,
    reset: Reset,
    lookback_records: int,
    lookback_start: int | None = None,
) -> Plan:
    """One partition's plan. `lookback_start`: the first offset at or after the
    time lookback (``offsets_for_times``), when there is one."""
    why = None
    live_from = committed
    if committed is None or not beginning <= committed <= end:
        live_from = beginning if reset == "earliest" else end
        if committed is not None:
            why = "past the end" if committed > end else "before the start"
    assert live_from is not None
    start = max(beginning, live_from - lookback_records)
    if lookback_start is not None:
        start = min(start, max(beginning, lookback_start))
    return Plan(seek=start, live_from=live_from, beginning=beginning, reset=why)


@dataclass(frozen=True, slots=True)
class ReplayPlanner:
    consumer: AIOKafkaConsumer
    reset: Reset
    lookback_records: int
    lookback_ms: int

    async def plans(self, assigned: Collection[TopicPartition]) -> dict[TopicPartition, Plan]:
        """A plan for every assigned partition (network round trips to the group
        coordinator and the partitions' leaders)."""
        tps = sorted(assigned)
        if not tps:
            return {}
        committed = {tp: await self.consumer.committed(tp) for tp in tps}
        beginning = await self.consumer.beginning_offsets(tps)
        end = await self.consumer.end_offsets(tps)
        by_time = await self._by_time(tps)
        out = {}
        for tp in tps:
            out[tp] = plan(
                committed[tp],
                beginning[tp],
                end[tp],
                reset=self.reset,
                lookback_records=self.lookback_records,
                lookback_start=by_time.get(tp),
            )
            if out[tp].reset:
                log.warning(
                    "partition %s: committed offset %d is %s of the log [%d, %d];"
                    " kafka.auto_offset_reset=%s: resuming at %d",
                    tp.partition,
                    committed[tp],
                    out[tp].reset,
                    beginning[tp],
                    end[tp],
                    self.reset,
                    out[tp].live_from,
                )
        return out

    async def _by_time(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        if not self.lookback_ms:
            return {}
        since = int(time.time() * 1000) - self.lookback_ms
        found = await self.consumer.offsets_for_times(dict.fromkeys(tps, since))
        return {tp: meta.offset for tp, meta in found.items() if meta is not None}
