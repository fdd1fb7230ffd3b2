"""`make run`'s script as a user runs it: metrics while it runs, nothing left after."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

import aiohttp
import psutil
import pytest

from tests.integration.conftest import ROOT, scrape, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]


def leftovers(kafka_port: int, http_port: int) -> list[psutil.Process]:
    """Processes of that run: the broker by its data dir, the others by their env."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            env = proc.environ() if "ticksmith" in cmd else {}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        broker = "kafka.Kafka" in cmd and f"-{kafka_port}/" in cmd
        if broker or env.get("TICKSMITH_HTTP__PORT") == str(http_port):
            found.append(proc)
    return found


async def test_run_script_serves_metrics_then_leaves_nothing_behind(unused_tcp_port: int) -> None:
    kafka_port = int(os.environ.get("TICKSMITH_TEST_KAFKA_PORT", "19092")) + 200
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "KAFKA_PORT": str(kafka_port),
        "TICKSMITH_HTTP__PORT": str(unused_tcp_port),
        "SYMBOLS": "50",
        "RATE": "5000",
    }
    script = ROOT / "deploy" / "run-local.sh"
    proc = await asyncio.create_subprocess_exec(
        str(script), "20", env=env, stderr=asyncio.subprocess.PIPE, start_new_session=True
    )
    try:

        async def flowing() -> bool:
            with contextlib.suppress(aiohttp.ClientError):
                metrics = await scrape(unused_tcp_port)
                ticks = metrics.get("ticksmith_ticks_consumed_total", 0)
                return ticks > 0 and metrics.get("ticksmith_bars_closed_total", 0) > 0
            return False

        await wait_for(flowing, "ticks and bars on /metrics", timeout_s=60)
        assert leftovers(kafka_port, unused_tcp_port)  # the check below can see them
        _, err = await asyncio.wait_for(proc.communicate(), 90)
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, 9)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "stopped cleanly" in err.decode()
    assert leftovers(kafka_port, unused_tcp_port) == []
