"""The `ticksmith` command: run the service, produce a synthetic market, replay a file of
ticks, create topics."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

import uvloop
from prometheus_client import CollectorRegistry

from ticksmith import __version__
from ticksmith.config import Settings, load_settings
from ticksmith.errors import ConfigError, TicksmithError
from ticksmith.kafka.clients import tick_producer
from ticksmith.kafka.diagnose import start_client
from ticksmith.kafka.redact import redact_kafka_logs
from ticksmith.produce.tick_file import TS_UNITS, TickFileError
from ticksmith.produce.writer import FORMATS


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    redact_kafka_logs()  # before any client connects, at any log level
    try:
        settings = load_settings(args.config)
        if args.command == "run":
            _check_indicators(settings)
    except ConfigError as exc:
        print(f"ticksmith: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command == "run" and args.workers > 1:
        from ticksmith.workers import supervise

        return supervise(settings, args.workers, args.config, args.summary)
    command = {"run": _run, "produce": _produce, "replay": _replay, "topics": _topics}
    try:
        uvloop.run(command[args.command](settings, args))
    except TickFileError as exc:  # a file or flag to fix, found before anything was sent
        print(f"ticksmith: {exc}", file=sys.stderr)
        return 2
    except TicksmithError as exc:
        print(f"ticksmith: {exc}", file=sys.stderr)
        return 1
    return 0


def _check_indicators(settings: Settings) -> None:
    """Parse the indicator specs before anything starts (config checks only their
    shape), so a bad one stops `run` here, exit 2, as any bad setting does; the
    other commands never load the indicators."""
    from ticksmith.indicators.spec import indicator_specs

    indicator_specs(settings)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ticksmith", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ticksmith {__version__}")
    parser.add_argument("--config", type=Path, help="TOML file (default: $TICKSMITH_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="consume ticks, build bars and indicators, serve metrics")
    run.add_argument("--summary", action="store_true", help="print a live one-line summary")
    run.add_argument(
        "--workers", type=int, default=1, help="member processes of the group on this machine"
    )
    produce = sub.add_parser("produce", help="write synthetic ticks to the ticks topic")
    produce.add_argument("--symbols", type=int, default=100)
    produce.add_argument("--rate", type=float, default=0.0, help="ticks/s; 0 = flat out")
    produce.add_argument("--count", type=int, help="stop after this many ticks")
    produce.add_argument("--duration", type=float, help="stop after this many seconds")
    produce.add_argument("--seed", type=int, default=0)
    produce.add_argument("--format", choices=FORMATS, default="json", dest="fmt")
    produce.add_argument(
        "--batch-size", type=int, default=100, help="ticks per record for binary-batch"
    )
    produce.add_argument("--quiet", action="store_true", help="no progress display")
    _replay_parser(sub.add_parser("replay", help="write a file of ticks to the ticks topic"))
    topics = sub.add_parser("topics", help="create the ticks and dead-letter topics if missing")
    topics.add_argument("--partitions", type=int, help="default: kafka.topic_partitions")
    return parser


def _replay_parser(replay: argparse.ArgumentParser) -> None:
    replay.add_argument("file", type=Path, help=".csv, .csv.gz, .parquet, .jsonl or .ndjson")
    replay.add_argument("--format", choices=FORMATS, default="json", dest="fmt")
    replay.add_argument(
        "--batch-size", type=int, default=100, help="ticks per record for binary-batch"
    )
    replay.add_argument(
        "--columns",
        default="",
        help="the file's column names, e.g. symbol=SYM,ts=time,price=px,size=qty,side=side",
    )
    replay.add_argument("--ts-unit", choices=TS_UNITS, default="ns", help="of the ts column")
    replay.add_argument(
        "--speed", type=float, default=0.0, help="times real time by event time; 0 = flat out"
    )
    replay.add_argument("--side-default", choices=("B", "S"), help="for a file without sides")
    replay.add_argument("--quiet", action="store_true", help="no progress bar")


async def _run(settings: Settings, args: argparse.Namespace) -> None:
    from ticksmith.app import lifespan, stop_on_signals
    from ticksmith.summary import print_every
    from ticksmith.workers import stop_when_orphaned

    stop = asyncio.Event()
    stop_on_signals(stop)
    orphaned = asyncio.create_task(stop_when_orphaned(stop))
    async with lifespan(settings, CollectorRegistry()) as service:
        summary = asyncio.create_task(print_every(service)) if args.summary else None
        try:
            await service.run(stop)
        finally:
            orphaned.cancel()
            if summary is not None:
                summary.cancel()
    logging.getLogger("ticksmith").info("stopped cleanly")


async def _produce(settings: Settings, args: argparse.Namespace) -> None:
    from ticksmith.app import stop_on_signals
    from ticksmith.produce.writer import ProduceSpec, produce

    spec = ProduceSpec(
        topic=settings.kafka.ticks_topic,
        symbols=args.symbols,
        rate=args.rate,
        count=args.count,
        duration_s=args.duration,
        seed=args.seed,
        progress=not args.quiet,
        fmt=args.fmt,
        batch_size=args.batch_size,
    )
    stop = asyncio.Event()
    stop_on_signals(stop)
    producer = tick_producer(settings.kafka)
    await start_client(producer, settings.kafka.bootstrap_servers, settings.kafka.security)
    try:
        sent = await produce(producer, spec, stop)
    finally:
        await producer.stop()
    logging.getLogger("ticksmith").info("produced %d ticks to %s", sent, spec.topic)


async def _replay(settings: Settings, args: argparse.Namespace) -> None:
    from ticksmith.app import stop_on_signals
    from ticksmith.produce.replay import ReplaySpec, replay, require_topic, survey
    from ticksmith.produce.tick_file import TickFile, parse_columns

    file = TickFile(args.file, parse_columns(args.columns), args.ts_unit, args.side_default)
    spec = ReplaySpec(
        topic=settings.kafka.ticks_topic,
        fmt=args.fmt,
        batch_size=args.batch_size,
        speed=args.speed,
        progress=not args.quiet,
    )
    found = survey(file, settings.ingest.min_event_time)
    for warning in found.warnings(settings.ingest.min_event_time):
        print(f"ticksmith: warning: {warning}", file=sys.stderr)
    stop = asyncio.Event()
    stop_on_signals(stop)
    producer = tick_producer(settings.kafka)
    await start_client(producer, settings.kafka.bootstrap_servers, settings.kafka.security)
    try:
        await require_topic(producer, spec.topic, settings.kafka.bootstrap_servers)
        sent, elapsed_s = await replay(producer, file, spec, stop, found.ticks)
    finally:
        await producer.stop()
    rate = sent / elapsed_s if elapsed_s > 0 else 0.0
    print(f"sent {sent:,} ticks to {spec.topic} in {elapsed_s:.1f} s: {rate:,.0f} ticks/s")


async def _topics(settings: Settings, args: argparse.Namespace) -> None:
    from ticksmith.kafka.topics import ensure_topics

    await ensure_topics(settings.kafka, args.partitions)
