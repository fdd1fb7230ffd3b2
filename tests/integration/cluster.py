"""Brokers a fault test may crash: the 3-node cluster (deploy/kafka/cluster.sh) and a
dedicated single broker (deploy/kafka/broker.sh), each on its own ports and
directory, so the suite's shared broker is never touched.

Starting and stopping for a whole module happens in fixtures (blocking is fine
there); what a test does mid-stream (kill a node, start it again) is async, so
the test's producer and clients keep running meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

ROOT = Path(__file__).resolve().parents[2]
KAFKA = ROOT / "deploy" / "kafka"


async def _script(script: Path, env: dict[str, str], *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        str(script),
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, f"{script.name} {' '.join(args)} failed:\n{err.decode()}"
    return out.decode()


def _script_sync(script: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(script), *args], env={**os.environ, **env}, text=True, capture_output=True
    )
    assert done.returncode == 0, f"{script.name} {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout + done.stderr


@dataclass(frozen=True)
class Cluster:
    """Three broker+controller nodes, ids 1..3; node i serves clients on `port + i`."""

    port: int
    directory: Path

    @property
    def _env(self) -> dict[str, str]:
        return {"KAFKA_CLUSTER_PORT": str(self.port), "KAFKA_CLUSTER_DIR": str(self.directory)}

    @property
    def bootstrap(self) -> str:
        return ",".join(f"localhost:{self.port + i}" for i in (1, 2, 3))

    def start(self) -> str:
        """Start every node and wait until a client sees all three; the script's report."""
        return _script_sync(KAFKA / "cluster.sh", self._env, "start")

    def stop(self) -> None:
        _script_sync(KAFKA / "cluster.sh", self._env, "stop")

    async def kill(self, node: int) -> None:
        """SIGKILL one node by its pid; returns once the process is gone."""
        await _script(KAFKA / "cluster.sh", self._env, "kill", str(node))

    async def start_node(self, node: int) -> None:
        """Start a node again and wait until it is ready."""
        await _script(KAFKA / "cluster.sh", self._env, "start-node", str(node))

    async def pids(self) -> dict[int, int]:
        out = await _script(KAFKA / "cluster.sh", self._env, "pids")
        return {int(node): int(pid) for node, pid in (line.split() for line in out.splitlines())}


@dataclass(frozen=True)
class Broker:
    """A single-node broker of a test's own, which it may stop and start again."""

    port: int
    directory: Path

    @property
    def _env(self) -> dict[str, str]:
        return {"KAFKA_PORT": str(self.port), "KAFKA_DIR": str(self.directory)}

    @property
    def bootstrap(self) -> str:
        return f"localhost:{self.port}"

    def start_sync(self) -> str:
        return _script_sync(KAFKA / "broker.sh", self._env, "start")

    def stop_sync(self) -> None:
        _script_sync(KAFKA / "broker.sh", self._env, "stop")

    async def start(self) -> None:
        await _script(KAFKA / "broker.sh", self._env, "start")

    async def stop(self) -> None:
        """SIGTERM: a controlled shutdown, waited for."""
        await _script(KAFKA / "broker.sh", self._env, "stop")

    async def kill(self) -> None:
        """SIGKILL, by its pid."""
        await _script(KAFKA / "broker.sh", self._env, "kill")


async def coordinator_node(admin: AIOKafkaAdminClient, group_id: str) -> int:
    """The node id of the group's coordinator (creates __consumer_offsets if need be)."""
    return int(await admin.find_coordinator(group_id))


async def leader_node(admin: AIOKafkaAdminClient, topic: str, partition: int) -> int:
    """The node id leading `topic`'s `partition`; -1 while it has none."""
    described = await admin.describe_topics([topic])
    for p in described[0]["partitions"]:
        if p["partition"] == partition:
            return int(p["leader"])
    raise AssertionError(f"{topic} has no partition {partition}")
