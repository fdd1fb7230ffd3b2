"""Fakes for the monitor's tests: a kernel file tree, a probe and an Evictable cache."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from ticksmith.monitor.pressure import MemorySample

MiB = 1024 * 1024


@dataclass
class FakeKernel:
    """A /proc and cgroup mounts (v2, or v1's memory hierarchy) under tmp_path;
    write only the files a test needs."""

    root: Path

    @property
    def proc(self) -> Path:
        return self.root / "proc"

    @property
    def mount(self) -> Path:
        return self.root / "sys" / "fs" / "cgroup"

    def write(self, path: Path, text: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def place(self, cgroup_path: str, mount_root: str = "/") -> Path:
        """Put the process in `cgroup_path` (as /proc/self/cgroup says) and return its dir."""
        self.write(self.proc / "self" / "cgroup", f"0::{cgroup_path}\n")
        mount = _escaped(self.mount)
        self.write(
            self.proc / "self" / "mountinfo",
            "22 1 0:21 / / rw,relatime - ext4 /dev/root rw\n"
            f"30 22 0:26 {mount_root} {mount} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
        )
        relative = cgroup_path[len(mount_root) :] if mount_root != "/" else cgroup_path
        directory = self.mount / relative.lstrip("/")
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    @property
    def v1_mount(self) -> Path:
        return self.root / "sys" / "fs" / "cgroup" / "memory"

    def place_v1(self, cgroup_path: str, mount_root: str = "/", unified: str | None = None) -> Path:
        """Put the process in `cgroup_path` of a v1 memory hierarchy and return its dir.
        With `unified`, the host is "hybrid": a cgroup2 mount too, without memory."""
        lines = ["9:name=systemd:/", "5:devices:/", f"4:cpuacct,memory:{cgroup_path}"]
        mounts = [
            "22 1 0:21 / / rw,relatime - ext4 /dev/root rw",
            f"31 22 0:28 / {_escaped(self.mount)} rw - tmpfs tmpfs rw,mode=755",
            f"32 31 0:29 / {_escaped(self.mount / 'cpu')} rw - cgroup cgroup rw,cpu",
            f"35 31 0:32 {mount_root} {_escaped(self.v1_mount)} rw - cgroup cgroup rw,memory",
        ]
        if unified is not None:
            lines.append(f"0::{unified}")
            mounts.append(
                f"41 31 0:38 / {_escaped(self.mount / 'unified')} rw - cgroup2 cgroup2 rw"
            )
            (self.mount / "unified" / unified.lstrip("/")).mkdir(parents=True, exist_ok=True)
        self.write(self.proc / "self" / "cgroup", "\n".join(lines) + "\n")
        self.write(self.proc / "self" / "mountinfo", "\n".join(mounts) + "\n")
        relative = cgroup_path[len(mount_root) :] if mount_root != "/" else cgroup_path
        directory = self.v1_mount / relative.lstrip("/")
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def statm(self, resident_pages: int) -> Path:
        return self.write(self.proc / "self" / "statm", f"9000 {resident_pages} 300 5 0 120 0\n")


def _escaped(path: Path) -> str:
    return str(path).replace(" ", "\\040")  # as mountinfo writes a space


def psi(some: float, full: float) -> str:
    return (
        f"some avg10={some:.2f} avg60=0.00 avg300=0.00 total=1234\n"
        f"full avg10={full:.2f} avg60=0.00 avg300=0.00 total=567\n"
    )


class FakeProbe:
    """Returns `sample`; raises `error` instead when it is set."""

    def __init__(self, sample: MemorySample) -> None:
        self.sample_value = sample
        self.error: Exception | None = None
        self.calls = 0

    def sample(self) -> MemorySample:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.sample_value


@dataclass
class FakeCache:
    """An Evictable of equal-sized entries; `evicted` is set on every eviction."""

    entries: int
    entry_bytes: int = MiB
    calls: list[tuple[int, str]] = field(default_factory=list)
    evicted: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def strong_bytes(self) -> int:
        return self.entries * self.entry_bytes

    def evict_to(self, target_bytes: int, reason: str = "pressure") -> int:
        self.calls.append((target_bytes, reason))
        keep = min(self.entries, max(0, target_bytes) // self.entry_bytes)
        gone, self.entries = self.entries - keep, keep
        self.evicted.set()
        return gone
