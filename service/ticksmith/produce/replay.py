"""`ticksmith replay`: a file of ticks to the ticks topic, flat out or paced by event time.

The file is read twice. The first pass (`survey`) checks every column and value
and counts what the service would not take as live ticks: ticks before
`ingest.min_event_time` (dead-lettered) and ticks behind an earlier tick of their
symbol (late, once their bar has closed), so the warnings come before anything
is sent. The second pass sends, a chunk at a time, with the writer's encoders.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
from aiokafka import AIOKafkaProducer
from tqdm import tqdm

from ticksmith.kafka.topics import missing_topic
from ticksmith.produce.tick_file import TickFile
from ticksmith.produce.writer import Format, encode_chunk, send_all

PACED_SLOT_S = 0.05  # paced: ticks due within one slot of wall time are sent together
PACED_MAX_TICKS = 2_000  # and at most this many at a time
_NEVER = np.iinfo(np.int64).min


@dataclass(frozen=True)
class ReplaySpec:
    topic: str
    fmt: Format = "json"
    batch_size: int = 100  # ticks per record for binary-batch
    speed: float = 0.0  # 0 = as fast as the broker takes them; X = X times real time
    progress: bool = True


@dataclass
class Survey:
    """What the first pass found."""

    ticks: int = 0
    too_old: int = 0  # before ingest.min_event_time
    behind: int = 0  # earlier than a tick before them of the same symbol
    newest: dict[str, int] = field(default_factory=dict)  # by symbol

    def add(self, chunk: pd.DataFrame, min_event_time_ns: int) -> None:
        ts = chunk["ts"].to_numpy()
        self.ticks += len(ts)
        self.too_old += int((ts < min_event_time_ns).sum())
        self.behind += self._behind(chunk)

    def _behind(self, chunk: pd.DataFrame) -> int:
        """Ticks below the newest earlier tick of their symbol, in this chunk or before.
        Kept in int64 throughout: floats would blur ns stamps to 256 ns."""
        symbol, ts = chunk["symbol"], chunk["ts"]
        by_symbol = ts.groupby(symbol, sort=False)
        before = by_symbol.cummax().groupby(symbol, sort=False).shift(fill_value=_NEVER)
        codes, names = pd.factorize(symbol)
        carried = np.array([self.newest.get(s, _NEVER) for s in names], dtype=np.int64)
        before = np.maximum(before.to_numpy(), carried[codes])
        for s, newest in by_symbol.max().items():  # a loop per symbol, not per tick
            self.newest[s] = max(int(newest), self.newest.get(s, _NEVER))
        return int((ts.to_numpy() < before).sum())

    def warnings(self, min_event_time_ns: int) -> list[str]:
        out = []
        if self.too_old:
            since = pd.Timestamp(min_event_time_ns, unit="ns", tz="UTC").isoformat()
            out.append(
                f"{self.too_old:,} of {self.ticks:,} ticks are before ingest.min_event_time"
                f" ({since}): the service will dead-letter them as bad_timestamp; lower"
                f" ingest.min_event_time (TICKSMITH_INGEST__MIN_EVENT_TIME) to keep them"
            )
        if self.behind:
            out.append(
                f"{self.behind:,} of {self.ticks:,} ticks are not in event-time order for their"
                f" symbol: those whose bar has already closed will be counted late, not in"
                f" their bar; sort the file by time to keep them"
            )
        return out


def survey(file: TickFile, min_event_time_ns: int) -> Survey:
    """Read the whole file once: check it, count its ticks and what would be refused."""
    found = Survey()
    for chunk in file.chunks():
        found.add(chunk, min_event_time_ns)
    return found


async def require_topic(producer: AIOKafkaProducer, topic: str, bootstrap_servers: str) -> None:
    """Stop, naming the setting, when the ticks topic is missing: aiokafka would wait
    for its metadata until a timeout, logging an error ten times a second."""
    cluster = await producer.client.fetch_all_metadata()
    if topic not in cluster.topics():
        raise missing_topic("ticks_topic", topic, bootstrap_servers)


async def replay(
    producer: AIOKafkaProducer,
    file: TickFile,
    spec: ReplaySpec,
    stop: asyncio.Event,
    total: int | None = None,
) -> tuple[int, float]:
    """Send the file's ticks keyed by symbol until its end or `stop`; return how many
    the broker acknowledged and the seconds it took."""
    started = time.monotonic()
    sent = 0
    clock = _EventClock(spec.speed)
    with tqdm(
        total=total, unit="tick", unit_scale=True, file=sys.stderr, disable=not spec.progress
    ) as progress:
        for chunk in file.chunks():
            for piece, due_s in clock.pieces(chunk):
                if stop.is_set():
                    return sent, time.monotonic() - started
                await _sleep_until(started + due_s)
                await send_all(producer, spec.topic, encode_chunk(piece, spec.fmt, spec.batch_size))
                sent += len(piece)
                progress.update(len(piece))
    return sent, time.monotonic() - started


@dataclass
class _EventClock:
    """When each tick is due, in seconds from the start: its event time since the
    file's first tick over the speed. A tick behind the newest so far is due with it."""

    speed: float
    first_ts: int | None = None
    newest_ts: int | None = None

    def pieces(self, chunk: pd.DataFrame) -> Iterator[tuple[pd.DataFrame, float]]:
        if self.speed <= 0 or chunk.empty:
            yield chunk, 0.0
            return
        due = self._due_s(chunk["ts"].to_numpy())
        slot = np.floor(due / PACED_SLOT_S)
        cuts = np.union1d(
            np.flatnonzero(np.diff(slot)) + 1, np.arange(0, len(due), PACED_MAX_TICKS)
        )
        for lo, hi in zip(cuts, [*cuts[1:], len(due)], strict=True):
            yield chunk.iloc[lo:hi], float(due[lo])

    def _due_s(self, ts: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        first = int(ts[0]) if self.first_ts is None else self.first_ts
        newest = np.maximum.accumulate(np.maximum(ts, self.newest_ts or first))
        self.first_ts, self.newest_ts = first, int(newest[-1])
        return np.asarray((newest - first) / 1e9 / self.speed, dtype=np.float64)


async def _sleep_until(deadline: float) -> None:
    ahead = deadline - time.monotonic()
    if ahead > 0:
        await asyncio.sleep(ahead)
