"""Broker and member faults while ticks stream the whole time: no tick lost, no bar
wrong, the service keeps running.

Each test streams ticks from a background task from its first second to its last,
crashes things on a fixed timeline (the fault's length is part of the scenario;
everything the test waits *for* is a condition with a deadline), then judges every
bar published against the offline recomputation of exactly what the ticks topic
holds, and requires an empty dead-letter topic. Each runs more than once, because
what goes wrong in a rebalance depends on timing.

TICKSMITH_TEST_NO_FAULTS=1 runs the same timelines with no fault injected (no
broker stopped, no member killed, joining or leaving; one member throughout, since
even a second member's first join is a rebalance): the check that a failure is
the service's and not the harness's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from bench._broker import end_offsets

from tests.integration.cluster import Broker, Cluster, coordinator_node, leader_node
from tests.integration.conftest import committed_offsets, scrape, wait_for
from tests.integration.faults import Member, TickStream, Timeline, fault_settings, verdict
from tests.integration.streams import caught_up
from ticksmith.config import Settings
from ticksmith.produce.market import Market, symbol_names

pytestmark = [pytest.mark.kafka]
FAULTS = os.environ.get("TICKSMITH_TEST_NO_FAULTS") != "1"
PortFactory = Callable[[], int]
WATCHED = {
    "ticksmith_consumer_lag_messages",
    "ticksmith_consumer_lag_seconds",
    "ticksmith_records_consumed_total",
    "ticksmith_commits_total",
    "ticksmith_rebalances_total",
    "ticksmith_dead_letters_total",
}


def market(seed: int, rate_per_s: float) -> Market:
    """Event time advances about as fast as the wall clock, so bars close all along."""
    return Market(symbol_names(60), seed=seed, spacing_ns=int(1e9 / rate_per_s))


async def settle(admin: AIOKafkaAdminClient, settings: Settings, members: list[Member]) -> None:
    """Wait until the group committed every tick; a member that exits fails it at once.
    The deadline is generous (a broker restarted after SIGKILL may take a while to
    lead its partitions again on a slow machine); a timeout reports where each
    partition stands and what the members logged last."""

    async def done() -> bool:
        for m in members:
            code = m.proc.returncode
            assert code is None, f"member {m.name} exited {code}:\n{m.tail()}"
        return await caught_up(admin, settings)

    try:
        await wait_for(done, "the group to commit every tick", 90)
    except AssertionError as e:
        for m in members:
            m.proc.send_signal(signal.SIGUSR1)  # each logs its tasks' stacks
        await asyncio.sleep(1)
        k = settings.kafka
        ends = await end_offsets(k.bootstrap_servers, k.ticks_topic, k.topic_partitions)
        committed = await committed_offsets(admin, k.group_id)
        logs = "\n".join(f"--- {m.name}:\n{m.tail(400)}" for m in members)
        report = f"{e}\nends {ends}\ncommitted {committed}\n{logs}"
        print(report, file=sys.__stderr__)  # uncaptured: shown whatever pytest captures
        raise AssertionError(report) from e


@pytest.mark.timeout(240)
@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
async def test_single_broker_away_60s_mid_stream_leaves_every_bar_exact(
    how: str,
    fault_broker: Broker,
    fault_broker_admin: AIOKafkaAdminClient,
    unused_tcp_port_factory: PortFactory,
    tmp_path: Path,
) -> None:
    admin = fault_broker_admin
    settings = await fault_settings(admin, fault_broker.bootstrap, partitions=4, replication=1)
    stream = TickStream(fault_broker.bootstrap, settings.kafka.ticks_topic, market(21, 3000), 3000)
    await stream.start()
    member = await Member.start("member", settings, port := unused_tcp_port_factory(), tmp_path)
    at, t0 = Timeline(), time.monotonic()
    try:
        await asyncio.sleep(8)  # streaming into a live member
        if FAULTS:
            await (fault_broker.stop() if how == "sigterm" else fault_broker.kill())
        at(f"broker stopped ({how})")
        await asyncio.sleep(50)  # the outage; the stream goes on trying
        during = await scrape(port)  # what an operator sees
        await asyncio.sleep(10)
        if FAULTS:
            await fault_broker.start()
        at("broker ready again")
        await asyncio.sleep(3)
        sends = await stream.stop()
        await settle(admin, settings, [member])
        at("group committed every tick")
        revived = (await scrape(port)).get("ticksmith_kafka_metadata_task_restarts_total", 0)
    finally:
        code = await member.stop()
    problems, judged = await verdict(settings)
    print(f"\n{how}: {time.monotonic() - t0:.0f}s, sends {dict(sends)}, judged {judged}\n{at}")
    print("50 s into the outage:", {k: v for k, v in during.items() if k in WATCHED})
    print(f"aiokafka metadata tasks the watchdog started again: {revived:.0f}")
    assert code == 0, f"member exited {code}:\n{member.tail()}"
    assert not problems, "\n".join(problems)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("role", ["coordinator", "leader"])
async def test_cluster_broker_and_member_crashes_mid_stream_leave_every_bar_exact(
    role: str,
    kafka_cluster: Cluster,
    cluster_admin: AIOKafkaAdminClient,
    unused_tcp_port_factory: PortFactory,
    tmp_path: Path,
) -> None:
    """Two members, 6 partitions, replication 3, ~5,000 ticks/s. A member is SIGKILLed
    and restarted; then the group coordinator's broker (or another partition leader's)
    is SIGKILLed for 30 s, and meanwhile a third member joins and one leaves."""
    admin = cluster_admin
    settings = await fault_settings(admin, kafka_cluster.bootstrap, partitions=6, replication=3)
    k = settings.kafka
    stream = TickStream(kafka_cluster.bootstrap, k.ticks_topic, market(31, 5000), 5000)
    await stream.start()

    async def member(name: str) -> Member:
        return await Member.start(name, settings, unused_tcp_port_factory(), tmp_path)

    at, t0 = Timeline(), time.monotonic()
    members = [await member("a"), *([await member("b")] if FAULTS else [])]
    at("members a, b started")
    try:
        await asyncio.sleep(12)
        if FAULTS:
            await members[0].kill()
            members[0] = await member("a-restarted")
        at("member a SIGKILLed and started again")
        await asyncio.sleep(6)
        node = await victim(admin, settings, role)
        if FAULTS:
            await kafka_cluster.kill(node)
        at(f"broker {node} ({role}) SIGKILLed")
        await asyncio.sleep(10)
        if FAULTS:
            members.append(await member("c"))  # joins while a broker is away
        at("member c started")
        await asyncio.sleep(10)
        if FAULTS:
            assert await members.pop(1).stop() == 0  # leaves while a broker is away
        at("member b stopped (SIGTERM)")
        await asyncio.sleep(10)
        if FAULTS:
            await kafka_cluster.start_node(node)
        at(f"broker {node} ready again")
        await asyncio.sleep(3)
        sends = await stream.stop()
        await settle(admin, settings, members)
        at("group committed every tick")
    finally:
        codes = {m.name: await m.stop() for m in members}
    problems, judged = await verdict(settings)
    print(f"\n{role}: {time.monotonic() - t0:.0f}s, sends {dict(sends)}, {judged}\n{at}")
    assert set(codes.values()) == {0}, f"exit codes {codes}"
    assert not problems, "\n".join(problems)


async def victim(admin: AIOKafkaAdminClient, settings: Settings, role: str) -> int:
    """The coordinator's node; or a node leading a ticks partition that is not the
    coordinator's, when there is one (so the two runs crash different things)."""
    coordinator = await coordinator_node(admin, settings.kafka.group_id)
    if role == "coordinator":
        return coordinator
    leaders = [await leader_node(admin, settings.kafka.ticks_topic, p) for p in range(6)]
    others = [n for n in leaders if n != coordinator]
    return others[0] if others else leaders[0]
