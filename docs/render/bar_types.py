"""Renders docs/bar-types.png: the same ticks as 1-minute, tick, volume and dollar
bars, drawn from a real run.

A local broker (deploy/kafka/broker.sh on KAFKA_PORT, default 19792), fresh topics,
`ticksmith run` configured with those four bar sets, 40 minutes of one symbol's
synthetic ticks written to a Parquet file and sent with `ticksmith replay`; then
every bar of that symbol is read back from the output topic and drawn as
candlesticks, a panel per bar set, on one time axis. The activity thresholds are
chosen so that each set has about as many bars as the 1-minute set.

    .venv/bin/python docs/render/bar_types.py [OUT]      (or: make bar-types-png)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from aiokafka import AIOKafkaConsumer, TopicPartition
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ticksmith import output
from ticksmith.produce.market import Market

ROOT = Path(__file__).resolve().parents[2]
SYMBOL = "DEMO"
MINUTES = 40
TICKS_PER_S = 20
START_NS = 1_732_545_000_000_000_000  # 2024-11-25T14:30:00Z
PORT = int(os.environ.get("KAFKA_PORT", "19792"))


@contextmanager
def broker() -> Iterator[str]:
    env = {**os.environ, "KAFKA_PORT": str(PORT)}
    script = str(ROOT / "deploy" / "kafka" / "broker.sh")
    subprocess.run([script, "start"], env=env, check=True)
    try:
        yield f"localhost:{PORT}"
    finally:
        subprocess.run([script, "stop"], env=env, check=False)


def ticks() -> pd.DataFrame:
    market = Market([SYMBOL], seed=7, start_ns=START_NS, spacing_ns=1_000_000_000 // TICKS_PER_S)
    return market.chunk(MINUTES * 60 * TICKS_PER_S)


def round2(x: float) -> float:
    """`x` to two significant digits."""
    digits = len(str(int(x))) - 2
    return float(round(x, -digits))


def settings_env(bootstrap: str, frame: pd.DataFrame) -> dict[str, str]:
    bars = MINUTES
    run = uuid.uuid4().hex[:8]
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("TICKSMITH_")},
        "TICKSMITH_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "TICKSMITH_KAFKA__TICKS_TOPIC": f"bar-types-ticks-{run}",
        "TICKSMITH_KAFKA__OUTPUT_TOPIC": f"bar-types-out-{run}",
        "TICKSMITH_KAFKA__DEAD_LETTER_TOPIC": f"bar-types-dlq-{run}",
        "TICKSMITH_KAFKA__GROUP_ID": f"bar-types-{run}",
        "TICKSMITH_KAFKA__TOPIC_PARTITIONS": "1",
        "TICKSMITH_HTTP__PORT": "0",
        "TICKSMITH_BARS__INTERVALS_MS": "[60000]",
        "TICKSMITH_BARS__TICKS": f"[{len(frame) // bars}]",
        "TICKSMITH_BARS__VOLUME": f"[{round2(frame['size'].sum() / bars)}]",
        "TICKSMITH_BARS__DOLLARS": f"[{round2((frame['price'] * frame['size']).sum() / bars)}]",
    }


def ticksmith(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "ticksmith", *args], env=env)


async def read_output(bootstrap: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        values: list[bytes] = []
        while await consumer.position(tp) < end:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                values += [r.value for r in records if r.value is not None]
        return values
    finally:
        await consumer.stop()


async def output_settled(bootstrap: str, topic: str, quiet_s: float = 3.0) -> None:
    """Wait until the output topic has records and has not grown for `quiet_s`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tp, last, since = TopicPartition(topic, 0), -1, time.monotonic()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            end = (await consumer.end_offsets([tp]))[tp]
            if end != last:
                last, since = end, time.monotonic()
            elif end > 0 and time.monotonic() - since > quiet_s:
                return
            await asyncio.sleep(0.5)
        raise RuntimeError(f"no output settled on {topic}")
    finally:
        await consumer.stop()


TITLES = {  # the panels, top to bottom
    "time": "1-minute time bars",
    "ticks": "tick bars: every {:,} trades",
    "volume": "volume bars: every {:,} units",
    "dollars": "dollar bars: every {:,} of notional",
}


def bar_sets(values: list[bytes]) -> dict[str, pd.DataFrame]:
    """The symbol's bars per set, by title: start, end, open, high, low, close."""
    rows: dict[str, list[dict[str, float]]] = {kind: [] for kind in TITLES}
    titles = dict(TITLES)
    for value in values:
        if output.is_activity(value):
            a = output.decode_activity(value)
            if a.symbol == SYMBOL:
                titles[a.bar_type] = TITLES[a.bar_type].format(a.threshold)
                rows[a.bar_type].append(_ohlc(a, a.start_ns, None))
        elif (b := output.decode(value)).symbol == SYMBOL:
            rows["time"].append(_ohlc(b, b.start_ns, b.end_ns))
    frames = {}
    for kind, bars in rows.items():
        frame = pd.DataFrame(bars).sort_values("start").reset_index(drop=True)
        # an activity bar ends where the next begins (the last, just after its start)
        ends = frame["start"].shift(-1).fillna(frame["start"].iloc[-1] + 1)
        frame["end"] = frame["end"].fillna(ends)
        frames[titles[kind]] = frame
    return frames


def _ohlc(record: object, start: int, end: int | None) -> dict[str, float]:
    return {
        "start": start,
        "end": float("nan") if end is None else end,
        **{f: getattr(record, f) for f in ("open", "high", "low", "close")},
    }


def candles(ax: Axes, frame: pd.DataFrame, title: str) -> None:
    t0 = START_NS
    start = (frame["start"] - t0) / 60e9
    width = (frame["end"] - frame["start"]) / 60e9
    up = frame["close"] >= frame["open"]
    colours = up.map({True: "#2a9d8f", False: "#e76f51"})
    ax.vlines(start + width / 2, frame["low"], frame["high"], colors=colours, linewidth=0.8)
    bottom = frame[["open", "close"]].min(axis=1)
    height = (frame["close"] - frame["open"]).abs().clip(lower=0.005)
    ax.bar(start, height, width=width * 0.85, bottom=bottom, align="edge", color=colours)
    ax.set_title(f"{title} ({len(frame)} bars)", loc="left", fontsize=10)
    ax.set_ylabel("price")
    ax.grid(alpha=0.3)


def render(values: list[bytes], out: Path) -> None:
    sets = bar_sets(values)
    fig = Figure(figsize=(11, 2.4 * len(sets)))
    axes = fig.subplots(len(sets), 1, sharex=True, sharey=True)
    for ax, (title, frame) in zip(axes, sets.items(), strict=True):
        candles(ax, frame, title)
    axes[-1].set_xlabel(f"minutes of event time from 2024-11-25 14:30 UTC ({SYMBOL}, synthetic)")
    fig.suptitle("The same ticks as time, tick, volume and dollar bars (one ticksmith run)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}: " + ", ".join(f"{t} {len(f)}" for t, f in sets.items()))


async def main(out: Path) -> None:
    frame = ticks()
    with broker() as bootstrap, tempfile.TemporaryDirectory() as tmp:
        env = settings_env(bootstrap, frame)
        subprocess.run([sys.executable, "-m", "ticksmith", "topics"], env=env, check=True)
        path = Path(tmp) / "ticks.parquet"
        frame.to_parquet(path)
        service = ticksmith("run", env=env)
        try:
            replay = ticksmith("replay", str(path), "--quiet", env=env)
            if replay.wait() != 0:
                raise RuntimeError("ticksmith replay failed")
            await output_settled(bootstrap, env["TICKSMITH_KAFKA__OUTPUT_TOPIC"])
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(60)
        render(await read_output(bootstrap, env["TICKSMITH_KAFKA__OUTPUT_TOPIC"]), out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", type=Path, default=ROOT / "docs" / "bar-types.png")
    asyncio.run(main(parser.parse_args().out))
