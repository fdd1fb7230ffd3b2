"""The one place that wires components together and owns start and stop order.

Start: HTTP → dead-letter producer → consumer (joins the group) → ingest loop.
Stop (SIGINT/SIGTERM): the ingest loop finishes its batch and commits → consumer
leaves the group → producer flushes → HTTP closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial

from aiohttp import web
from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry

from ticksmith.api.server import make_app
from ticksmith.bar import activity_sets
from ticksmith.cache.proxy_cache import ProxyCache
from ticksmith.cache.sources import BarSource, IndicatorSource, TickSource
from ticksmith.config import Settings
from ticksmith.indicators.closed import ClosedByInterval
from ticksmith.indicators.spec import indicator_specs
from ticksmith.ingest.dead_letter import DeadLetters
from ticksmith.kafka.clients import PRODUCER_MAX_REQUEST_BYTES, kafka_clients
from ticksmith.kafka.diagnose import start_client
from ticksmith.kafka.ownership import Ownership
from ticksmith.kafka.settings import KafkaSettings
from ticksmith.kafka.topics import missing_topic
from ticksmith.kafka.watchdog import watch_metadata_tasks
from ticksmith.metrics import MemoryMetrics, Metrics
from ticksmith.monitor.gc_stats import GCStats
from ticksmith.monitor.gc_tuning import tuned_gc
from ticksmith.monitor.loop_lag import watch_loop_lag
from ticksmith.monitor.memory import MemoryProbe, Monitor
from ticksmith.monitor.pressure import PressurePolicy
from ticksmith.monitor.stalls import watch_stalls
from ticksmith.output import Publisher
from ticksmith.pipeline.batch import BatchEffects
from ticksmith.pipeline.forming import FormingReader
from ticksmith.pipeline.indicator_worker import IndicatorWorker
from ticksmith.pipeline.lookback import warn_short_lookback
from ticksmith.pipeline.member import FetchSettings, GroupMember
from ticksmith.pipeline.replay import ReplayPlanner
from ticksmith.pipeline.settle import Settler
from ticksmith.store.calendar import Calendar
from ticksmith.store.store import Store

log = logging.getLogger(__name__)


@dataclass
class Service:
    """A running service: its parts, for the summary line and for tests."""

    settings: Settings
    metrics: Metrics
    store: Store
    cache: ProxyCache
    member: GroupMember
    monitor: Monitor
    http_port: int

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop`; a failure of the memory monitor stops it too and is raised."""
        ingest = asyncio.create_task(self.member.run(stop))
        watch = asyncio.create_task(self.monitor.wait())
        done, _ = await asyncio.wait({ingest, watch}, return_when=asyncio.FIRST_COMPLETED)
        if watch in done:
            stop.set()
            await ingest
            watch.result()  # raises MonitorFailed
        watch.cancel()
        ingest.result()


def build_parts(
    settings: Settings, registry: CollectorRegistry
) -> tuple[Metrics, Store, IndicatorWorker, ProxyCache]:
    metrics = Metrics(registry)
    b = settings.bars
    store = Store(
        settings.bars.intervals_ms,
        lateness_ms=settings.bars.lateness_ms,
        history_bars=settings.bars.history_bars,
        ticks_per_symbol=settings.window.ticks_per_symbol,
        quiet_close_ms=settings.bars.quiet_close_ms,
        max_symbols=settings.store.max_symbols,
        symbol_idle_ms=settings.store.symbol_idle_ms,
        activity=activity_sets(b.ticks, b.volume, b.dollars),
        activity_anchor_ms=b.activity_anchor_ms,
        calendar=Calendar(b.timezone, b.origin),
    )
    worker = IndicatorWorker(indicator_specs(settings), store.bar_keys, metrics)
    warn_short_lookback(settings, activity=len(store.bar_keys) > len(store.intervals_ms))
    sources = {
        "indicators": IndicatorSource(store, worker, settings.bars.history_bars),
        "bars": BarSource(store),
        "ticks": TickSource(store),
    }
    cache = ProxyCache(settings.cache.budget_bytes, sources, metrics)  # type: ignore[arg-type]
    metrics.cache_entries.set_function(lambda: len(cache))
    metrics.cache_bytes.set_function(lambda: cache.strong_bytes)
    metrics.cache_budget_bytes.set(settings.cache.budget_bytes)
    metrics.store_symbols.set_function(lambda: len(store))
    metrics.store_bytes.set_function(lambda: store.nbytes)
    metrics.store_max_symbols.set(settings.store.max_symbols)
    metrics.checkpoint_bytes.set_function(lambda: worker.checkpoint_bytes)
    return metrics, store, worker, cache


@contextlib.asynccontextmanager
async def lifespan(settings: Settings, registry: CollectorRegistry) -> AsyncIterator[Service]:
    metrics, store, indicators, cache = build_parts(settings, registry)
    k = settings.kafka
    kafka = kafka_clients(k)
    forget = partial(_forget, cache, indicators)
    effects = BatchEffects(
        store,
        indicators,
        Publisher(kafka.producer, k.output_topic, store.calendar),
        DeadLetters(
            kafka.producer,
            k.dead_letter_topic,
            metrics,
            max_request_bytes=PRODUCER_MAX_REQUEST_BYTES,
        ),
        metrics,
        settings.ingest,
        forget=forget,
        feed=partial(_feed, cache),
    )
    ingest = settings.ingest
    member = GroupMember(
        kafka.consumer,
        effects,
        ReplayPlanner(
            kafka.consumer,
            k.auto_offset_reset,
            ingest.replay_lookback_records,
            ingest.replay_lookback_ms,
        ),
        Settler(kafka.consumer, metrics, commit_interval_ms=k.commit_interval_ms),
        metrics,
        fetch=FetchSettings(k.fetch_max_records, k.fetch_timeout_ms),
        quiet_close_ms=settings.bars.quiet_close_ms,
        on_revoked=forget,
    )
    ownership = Ownership(kafka.consumer, kafka.admin, k.group_id, k.ticks_topic, metrics)
    api = make_app(
        registry,
        store,
        cache,
        settings.bars.intervals_ms,
        ready=lambda: bool(member.assigned) and not member.warming_up,
        owner=ownership.owner,
        bars_in_progress=FormingReader(store, indicators),
        activity=tuple(key for key in store.bar_keys if isinstance(key, str)),
    )
    async with contextlib.AsyncExitStack() as stack:
        port = await _serve(stack, api, settings)
        for client in (kafka.producer, kafka.consumer):
            await start_client(client, k.bootstrap_servers, k.security)
            stack.push_async_callback(client.stop)
        await start_client(kafka.admin, k.bootstrap_servers, k.security)
        stack.push_async_callback(kafka.admin.close)
        await require_topics(kafka.consumer, k)
        monitor = _monitor(settings, registry, cache)
        await stack.enter_async_context(monitor)
        stack.enter_context(tuned_gc(settings.monitor.gc_freeze, settings.monitor.gc_threshold0))
        watchdog = asyncio.create_task(
            watch_metadata_tasks(
                {"producer": kafka.producer, "consumer": kafka.consumer, "admin": kafka.admin},
                lambda name: metrics.metadata_task_restarts.labels(name).inc(),
            )
        )
        stack.callback(watchdog.cancel)  # before the clients stop: they end the task
        kafka.consumer.subscribe(topics=[k.ticks_topic], listener=member)
        loop_lag = asyncio.create_task(watch_loop_lag(metrics.event_loop_lag))
        stack.callback(loop_lag.cancel)
        if stall_ms := settings.monitor.loop_stall_ms:
            stalls = asyncio.create_task(
                watch_stalls(stall_ms / 1000, metrics.event_loop_stalls.inc)
            )
            stack.callback(stalls.cancel)
        log.info("serving metrics on http://%s:%d/metrics", settings.http.host, port)
        yield Service(settings, metrics, store, cache, member, monitor, port)


def _monitor(settings: Settings, registry: CollectorRegistry, cache: ProxyCache) -> Monitor:
    gc_stats = GCStats()
    policy = PressurePolicy(
        **settings.monitor.model_dump(
            exclude={"interval_ms", "gc_freeze", "gc_threshold0", "loop_stall_ms"}
        )
    )
    return Monitor(
        MemoryProbe.discover(),
        cache,
        MemoryMetrics(registry, gc_stats),
        gc_stats,
        policy,
        interval_ms=settings.monitor.interval_ms,
        declared_limit_bytes=settings.memory_limit_bytes,
    )


def _feed(cache: ProxyCache, values: ClosedByInterval) -> None:
    """The worker's values for a batch's closed bars go into the frames held for them."""
    for interval_ms, closed in values.items():
        cache.feed("indicators", interval_ms, closed)


def _forget(cache: ProxyCache, indicators: IndicatorWorker, symbols: set[str]) -> None:
    """Revoked symbols leave everything derived from them."""
    cache.drop_symbols(symbols)
    indicators.drop(symbols)


async def _serve(stack: contextlib.AsyncExitStack, api: web.Application, settings: Settings) -> int:
    """Start HTTP; return the bound port (http.port may be 0)."""
    runner = web.AppRunner(api, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, settings.http.host, settings.http.port)
    await site.start()
    return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]


async def require_topics(consumer: AIOKafkaConsumer, kafka: KafkaSettings) -> None:
    """Fail start-up, naming the setting, when a topic is missing: producing to a
    missing topic would otherwise stall the first batch until a timeout."""
    existing = await consumer.topics()
    for setting in ("ticks_topic", "dead_letter_topic", "output_topic"):
        topic = getattr(kafka, setting)
        if topic not in existing:
            raise missing_topic(setting, topic, kafka.bootstrap_servers)


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGINT/SIGTERM stop; SIGUSR1 logs every task's stack (where a stuck member waits)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, log_tasks)


def log_tasks() -> None:
    """Each asyncio task, at WARNING, with every coroutine it is suspended in, outermost
    first: the await chain down to the future it waits for (a task's own stack shows
    only its outermost coroutine). A background task that died is not listed."""
    tasks = list(asyncio.all_tasks())
    log.warning("%d asyncio tasks", len(tasks))
    for task in tasks:
        log.warning("task %s:\n%s", task.get_name(), "\n".join(await_chain(task.get_coro())))


def await_chain(coro: object) -> list[str]:
    """`file:line in function` for each coroutine from `coro` down its awaits, then
    what the innermost one awaits."""
    lines: list[str] = []
    while coro is not None and len(lines) < 40:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            lines.append(f"  awaiting {coro!r}"[:300])
            break
        code = frame.f_code
        lines.append(f"  {code.co_filename}:{frame.f_lineno} in {code.co_qualname}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return lines
