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

from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import CollectorRegistry

from ticksmith.api.server import make_app
from ticksmith.cache.proxy_cache import ProxyCache
from ticksmith.cache.sources import IndicatorSource, TickSource
from ticksmith.config import KafkaSettings, Settings
from ticksmith.errors import MissingTopic
from ticksmith.ingest.consumer import FetchSettings, Ingestor
from ticksmith.ingest.dead_letter import DeadLetters
from ticksmith.monitor.metrics import Metrics
from ticksmith.output import Publisher
from ticksmith.store.store import Store

log = logging.getLogger(__name__)


@dataclass
class Service:
    """A running service: its parts, for the summary line and for tests."""

    settings: Settings
    metrics: Metrics
    store: Store
    cache: ProxyCache
    ingestor: Ingestor
    http_port: int


def build_parts(
    settings: Settings, registry: CollectorRegistry
) -> tuple[Metrics, Store, ProxyCache]:
    metrics = Metrics(registry)
    store = Store(
        interval_ns=settings.bars.interval_ms * 1_000_000,
        history_bars=settings.bars.history_bars,
        ticks_per_symbol=settings.window.ticks_per_symbol,
    )
    sources = {
        "indicators": IndicatorSource(store, settings.indicators),
        "ticks": TickSource(store),
    }
    cache = ProxyCache(settings.cache.budget_bytes, sources, metrics)  # type: ignore[arg-type]
    metrics.cache_entries.set_function(lambda: len(cache))
    metrics.cache_bytes.set_function(lambda: cache.strong_bytes)
    metrics.cache_budget_bytes.set(settings.cache.budget_bytes)
    metrics.store_symbols.set_function(lambda: len(store))
    metrics.store_bytes.set_function(lambda: store.nbytes)
    return metrics, store, cache


@contextlib.asynccontextmanager
async def lifespan(settings: Settings, registry: CollectorRegistry) -> AsyncIterator[Service]:
    metrics, store, cache = build_parts(settings, registry)
    k = settings.kafka
    async with contextlib.AsyncExitStack() as stack:
        producer = AIOKafkaProducer(
            bootstrap_servers=k.bootstrap_servers,
            client_id=k.client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
        )
        consumer = AIOKafkaConsumer(
            bootstrap_servers=k.bootstrap_servers,
            client_id=k.client_id,
            group_id=k.group_id,
            enable_auto_commit=False,
            auto_offset_reset=k.auto_offset_reset,
            session_timeout_ms=k.session_timeout_ms,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        ingestor = Ingestor(
            consumer,
            Publisher(producer, k.output_topic, settings.bars.interval_ms),
            DeadLetters(producer, k.dead_letter_topic, metrics),
            store,
            metrics,
            fetch=FetchSettings(k.fetch_max_records, k.fetch_timeout_ms),
            ingest=settings.ingest,
            interval_label=f"{settings.bars.interval_ms}ms",
            on_revoked=cache.drop_symbols,
        )
        http = web.AppRunner(
            make_app(
                registry,
                store,
                cache,
                settings.bars.interval_ms,
                ready=lambda: bool(ingestor.assigned) and not ingestor.warming_up,
            )
        )
        await http.setup()
        stack.push_async_callback(http.cleanup)
        site = web.TCPSite(http, settings.http.host, settings.http.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        await producer.start()
        stack.push_async_callback(producer.stop)
        await consumer.start()
        stack.push_async_callback(consumer.stop)
        await require_topics(consumer, k)
        consumer.subscribe(topics=[k.ticks_topic], listener=ingestor)
        log.info("serving metrics on http://%s:%d/metrics", settings.http.host, port)
        yield Service(settings, metrics, store, cache, ingestor, port)


async def run(settings: Settings, registry: CollectorRegistry, stop: asyncio.Event) -> Service:
    """Run until `stop` is set; return the stopped service's parts."""
    async with lifespan(settings, registry) as service:
        await service.ingestor.run(stop)
    return service


async def require_topics(consumer: AIOKafkaConsumer, kafka: KafkaSettings) -> None:
    """Fail start-up, naming the setting, when a topic is missing: producing to a
    missing topic would otherwise stall the first batch until a timeout."""
    existing = await consumer.topics()
    for setting in ("ticks_topic", "dead_letter_topic", "output_topic"):
        topic = getattr(kafka, setting)
        if topic not in existing:
            raise MissingTopic(
                f"kafka.{setting}: topic {topic!r} does not exist on {kafka.bootstrap_servers};"
                " create it (`ticksmith topics`) or fix the setting"
            )


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
