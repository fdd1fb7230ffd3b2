"""Fixtures for tests that cross the real local Kafka broker.

The broker is started by the project's own script (deploy/kafka/broker.sh) on
TICKSMITH_TEST_KAFKA_PORT (default 19092) and stopped at the end of the session
if this session started it. A broker that cannot start fails the run; nothing
here skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CoordinatorLoadInProgressError, GroupCoordinatorNotAvailableError
from bench._broker import has_leaders
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.cluster import Broker, Cluster
from ticksmith.config import HttpSettings, Settings
from ticksmith.kafka.settings import KafkaSettings

ROOT = Path(__file__).resolve().parents[2]
BROKER = ROOT / "deploy" / "kafka" / "broker.sh"
PORT = int(os.environ.get("TICKSMITH_TEST_KAFKA_PORT", "19092"))
# Fault tests crash brokers of their own: the 3-node cluster on CLUSTER_PORT+1..3
# (controllers +11..13) and a single broker on FAULT_BROKER_PORT (controller +1).
CLUSTER_PORT = int(os.environ.get("TICKSMITH_TEST_CLUSTER_PORT", "19700"))
FAULT_BROKER_PORT = int(os.environ.get("TICKSMITH_TEST_FAULT_BROKER_PORT", "19750"))


def _broker(command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAFKA_PORT": str(PORT)}
    return subprocess.run([str(BROKER), command], env=env, text=True, capture_output=True)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    was_running = _broker("status").returncode == 0
    if not was_running:
        started = _broker("start")
        assert started.returncode == 0, f"local broker did not start:\n{started.stderr}"
    yield f"localhost:{PORT}"
    if not was_running:
        _broker("stop")


@pytest.fixture(scope="session")
async def admin(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await client.start()
    yield client
    await client.close()


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The 3-node cluster, started for the first test that asks for it; one that
    cannot start fails that test."""
    cluster = Cluster(CLUSTER_PORT, tmp_path_factory.mktemp("cluster"))
    print(cluster.start())
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
async def cluster_admin(kafka_cluster: Cluster) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=kafka_cluster.bootstrap)
    await client.start()
    yield client
    await client.close()


@pytest.fixture(scope="session")
def fault_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A single broker of the fault tests' own, which they stop and start again."""
    broker = Broker(FAULT_BROKER_PORT, tmp_path_factory.mktemp("fault-broker"))
    print(broker.start_sync())
    yield broker
    broker.stop_sync()


@pytest.fixture(scope="session")
async def fault_broker_admin(fault_broker: Broker) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=fault_broker.bootstrap)
    await client.start()
    yield client
    await client.close()


TopicFactory = Callable[..., Awaitable[str]]


@pytest.fixture
def topic_factory(admin: AIOKafkaAdminClient) -> TopicFactory:
    async def create(prefix: str = "t", partitions: int = 4) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        await admin.create_topics([NewTopic(name, partitions, replication_factor=1)])
        await wait_for(lambda: has_leaders(admin, name, partitions), what=f"topic {name}")
        return name

    return create


@pytest.fixture
async def settings_factory(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> Callable[..., Awaitable[Settings]]:
    async def make(partitions: int = 4, **kafka: object) -> Settings:
        Settings.toml_file = None
        ticks = await topic_factory("ticks", partitions)
        dlq = await topic_factory("dlq", 1)
        out = await topic_factory("out", partitions)
        base = KafkaSettings(
            bootstrap_servers=kafka_bootstrap,
            ticks_topic=ticks,
            dead_letter_topic=dlq,
            output_topic=out,
            group_id=f"g-{ticks}",
            fetch_timeout_ms=100,
        )
        kafka = {"topic_partitions": partitions, **kafka}
        return Settings(kafka=base.model_copy(update=kafka), http=HttpSettings(port=0))

    return make


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=10)
    await p.start()
    yield p
    await p.stop()


async def wait_for(
    condition: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 60.0
) -> None:
    """Poll `condition` until true; fail naming `what` after the deadline."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.05)


async def committed_offsets(admin: AIOKafkaAdminClient, group: str) -> dict[int, int]:
    """The group's committed offsets; none while a fresh broker has no coordinator
    yet (its offsets topic is made on first use: a suite's first test meets that)."""
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    except (GroupCoordinatorNotAvailableError, CoordinatorLoadInProgressError):
        return {}
    return {tp.partition: meta.offset for tp, meta in offsets.items()}


async def read_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0) -> list:  # type: ignore[type-arg]
    """Every record of `topic` from the beginning: waiting until `expected` arrived,
    then on to the end of every partition (a count alone would stop short when some
    records came twice)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    records: list = []  # type: ignore[type-arg]
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            records += [r for rs in batch.values() for r in rs]
            if len(records) >= expected and await _at_end(consumer):
                break
        return records
    finally:
        await consumer.stop()


async def _at_end(consumer: AIOKafkaConsumer) -> bool:
    assigned = list(consumer.assignment())
    if not assigned:
        return False
    ends = await consumer.end_offsets(assigned)
    return all([await consumer.position(tp) >= ends[tp] for tp in assigned])


async def scrape(port: int) -> dict[str, float]:
    """GET /metrics: the sum of every sample of each series, by sample name."""
    url = f"http://127.0.0.1:{port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        text = await response.text()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def service_env(
    settings: Settings, port: int, environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """`environ` (the tests' own by default) pointing a `ticksmith` process at these
    settings' topics, serving HTTP on `port`."""
    kafka = {f"TICKSMITH_KAFKA__{k.upper()}": str(v) for k, v in settings.kafka if k != "security"}
    return {**environ, **kafka, "TICKSMITH_HTTP__PORT": str(port)}


async def run_until_consumed(
    command: list[str],
    env: dict[str, str],
    port: int,
    expected: int,
    *,
    cwd: Path | None = None,
    sig: signal.Signals = signal.SIGTERM,
) -> tuple[int, str]:
    """Start `ticksmith run` as a process, wait until its /metrics counts `expected`
    ticks, stop it with `sig`; return its exit code and stderr."""
    proc = await asyncio.create_subprocess_exec(
        *command, env=env, cwd=cwd, stderr=asyncio.subprocess.PIPE
    )

    async def consumed_all() -> bool:
        if proc.returncode is not None:
            raise AssertionError(f"{command} exited early with {proc.returncode}")
        with contextlib.suppress(aiohttp.ClientError):
            return (await scrape(port)).get("ticksmith_ticks_consumed_total") == expected
        return False

    err = b""
    try:
        await wait_for(consumed_all, f"{command[-1]} to consume {expected} ticks")
        proc.send_signal(sig)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            _, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode()
