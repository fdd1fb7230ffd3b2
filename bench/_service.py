"""`ticksmith run` and the benchmarks' other children as processes: environment, ports,
start, readiness, stop (SIGTERM, then kill), log tails and CPU time.

Imported by tests too (free ports), so it imports no other bench module.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp
import psutil

READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Wiring:
    """The topics one service instance reads and writes."""

    bootstrap: str
    ticks: str
    dead_letter: str
    output: str


def clean_env() -> dict[str, str]:
    """This process's environment without TICKSMITH_ settings: only a bench's own apply."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TICKSMITH_")}


def service_env(
    w: Wiring, port: int, group: str, settings: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A `ticksmith run` on `w`'s topics, in a fresh consumer group named after `group`,
    serving HTTP on `port`, with `settings` (TICKSMITH_ variables) on top."""
    return (
        clean_env()
        | {
            "TICKSMITH_KAFKA__BOOTSTRAP_SERVERS": w.bootstrap,
            "TICKSMITH_KAFKA__TICKS_TOPIC": w.ticks,
            "TICKSMITH_KAFKA__DEAD_LETTER_TOPIC": w.dead_letter,
            "TICKSMITH_KAFKA__OUTPUT_TOPIC": w.output,
            "TICKSMITH_KAFKA__GROUP_ID": f"{group}-{uuid.uuid4().hex[:10]}",
            "TICKSMITH_HTTP__PORT": str(port),
        }
        | dict(settings or {})
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(n: int) -> int:
    """A base port with `n` free ports from it (worker i of `--workers n` serves on base + i)."""
    for _ in range(100):
        base = free_port()
        if base + n < 65536 and all(_free(base + i) for i in range(1, n)):
            return base
    raise RuntimeError(f"no run of {n} free ports")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def spawn(args: list[str], env: dict[str, str], log: IO[Any]) -> asyncio.subprocess.Process:
    """This Python with `args` (e.g. ``["-m", "ticksmith", "run"]``), output to `log`."""
    return await asyncio.create_subprocess_exec(
        sys.executable, *args, env=env, stdout=log, stderr=log
    )


async def stop(proc: asyncio.subprocess.Process, timeout_s: float = STOP_TIMEOUT_S) -> int:
    """SIGTERM, as an operator stops it, then SIGKILL after `timeout_s`; its exit code."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        proc.kill()
        return await proc.wait()


def tail(path: Path, n: int = 4000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else ""


async def ready(http: aiohttp.ClientSession, base: str) -> bool:
    """Whether `base`/readyz answers 200 (False while it is not listening yet)."""
    try:
        async with http.get(f"{base}/readyz") as response:
            return response.status == 200
    except aiohttp.ClientConnectionError:
        return False


@dataclass
class Service:
    """A `ticksmith run` process, its HTTP base URL and its log."""

    proc: asyncio.subprocess.Process
    base: str
    http: aiohttp.ClientSession
    log: Path
    killed: bool = False  # by the benchmark, on purpose: its exit code is not a failure

    def alive(self) -> None:
        if self.proc.returncode is not None:
            raise RuntimeError(f"service exited {self.proc.returncode}:\n{tail(self.log)}")

    async def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.alive()
            with contextlib.suppress(aiohttp.ClientError):
                if await ready(self.http, self.base):
                    return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"service not ready after {timeout_s:.0f} s:\n{tail(self.log)}")

    def kill(self) -> None:
        self.killed = True
        self.proc.kill()


@contextlib.asynccontextmanager
async def service(
    env: dict[str, str], log: Path, connections: int = 8, timeout_s: float = 60
) -> AsyncIterator[Service]:
    """`ticksmith run` with `env`, ready; stopped with SIGTERM (the batch in flight
    settles) and checked to exit 0 unless the benchmark killed it."""
    port = env["TICKSMITH_HTTP__PORT"]
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    with log.open("w") as out:
        proc = await spawn(["-m", "ticksmith", "run"], env, out)
        svc: Service | None = None
        try:
            connector = aiohttp.TCPConnector(limit=connections)
            async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
                svc = Service(proc, f"http://127.0.0.1:{port}", http, log)
                await svc.wait_ready()
                yield svc
        finally:
            code = await stop(proc)
    if code != 0 and not (svc and svc.killed):
        raise RuntimeError(f"service exited {code} on SIGTERM:\n{tail(log)}")


def cpu_seconds(pids: Mapping[str, int | None]) -> dict[str, float]:
    """User plus system CPU of each process so far (nan if it is gone or unknown), and
    of the whole machine, every core (`machine`)."""
    out = {}
    for name, pid in pids.items():
        try:
            times = psutil.Process(pid).cpu_times() if pid else None
        except psutil.NoSuchProcess:
            times = None
        out[name] = times.user + times.system if times else math.nan
    t = psutil.cpu_times()
    out["machine"] = t.user + t.nice + t.system + t.irq + t.softirq
    return out
