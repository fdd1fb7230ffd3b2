"""The process's memory cgroup, v1 or v2, and the names of its files.

v2 (unified): the ``0::`` line of /proc/self/cgroup, under the cgroup2 mount.
v1: the line whose controllers include ``memory``, under the ``cgroup`` mount
whose options include ``memory``. A controller is bound to one hierarchy at a
time, so when a v1 memory hierarchy is mounted (v1 alone, or a "hybrid" host
whose cgroup2 mount has no memory controller) the figures are there; else in
v2. Paths come from /proc/self/mountinfo; a mount of a subtree (a container's
view) is resolved from its own root.
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

PROC = Path("/proc")
V1_UNLIMITED_BYTES = 1 << 62  # v1 writes "no limit" as LONG_MAX rounded down to a page
_ABSENT = {errno.ENOENT, errno.ENODEV, errno.EOPNOTSUPP}  # EOPNOTSUPP: PSI off at boot
Version = Literal[1, 2]


@dataclass(frozen=True, slots=True)
class Files:
    """What one cgroup version calls its memory files."""

    current: str  # bytes in use, page cache included
    limit: str  # the limit set on this cgroup ("max" or V1_UNLIMITED_BYTES: none)
    inactive_file: tuple[str, ...]  # memory.stat keys, the first present wins
    effective_limit: str | None  # a memory.stat key holding the limit up the whole tree


V2 = Files("memory.current", "memory.max", ("inactive_file",), None)
V1 = Files(
    "memory.usage_in_bytes",
    "memory.limit_in_bytes",
    ("total_inactive_file", "inactive_file"),  # total_: with the children, as usage is
    "hierarchical_memory_limit",
)


@dataclass(frozen=True, slots=True)
class Cgroup:
    """A memory cgroup directory and the mount it lives under."""

    mount: Path
    path: Path
    version: Version = 2

    @property
    def files(self) -> Files:
        return V1 if self.version == 1 else V2

    def lineage(self) -> list[Path]:
        """This cgroup and its ancestors up to the mount: a limit may be set on any."""
        dirs = [self.path]
        while dirs[-1] != self.mount and dirs[-1].parent != dirs[-1]:
            dirs.append(dirs[-1].parent)
        return dirs

    def __str__(self) -> str:
        return f"cgroup v{self.version} {self.path}"


def find_cgroup(proc: Path = PROC, version: Version | None = None) -> Cgroup | None:
    """The process's memory cgroup: v1 if its memory hierarchy is mounted, else v2.
    With `version`, only that version's."""
    versions: tuple[Version, ...] = (1, 2) if version is None else (version,)
    membership = read_text(proc / "self" / "cgroup")
    mountinfo = read_text(proc / "self" / "mountinfo")
    for v in versions:
        found = _locate(_member_of(membership, v), _mount_of(mountinfo, v), v)
        if found is not None:
            return found
    return None


def read_text(path: Path) -> str | None:
    """The file's text, or None if it (or PSI support) is absent; other errors raise."""
    try:
        return path.read_text()
    except OSError as exc:
        if exc.errno in _ABSENT:
            return None
        raise


def _locate(relative: str | None, mount: tuple[str, Path] | None, v: Version) -> Cgroup | None:
    if relative is None or mount is None:
        return None
    root, point = mount
    if root != "/" and (relative == root or relative.startswith(root + "/")):
        relative = relative[len(root) :]  # a mount of a subtree starts at its own root
    path = point / relative.lstrip("/")
    return Cgroup(point, path, v) if path.is_dir() else None


def _member_of(text: str | None, v: Version) -> str | None:
    """The process's path in the hierarchy: `0::path` (v2) or `N:...memory...:path` (v1)."""
    for line in (text or "").splitlines():
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if v == 2 and number == "0" and controllers == "":
            return path.strip()
        if v == 1 and "memory" in controllers.split(","):
            return path.strip()
    return None


def _mount_of(text: str | None, v: Version) -> tuple[str, Path] | None:
    """(root within the hierarchy, mount point) of the first mount of that version
    (v1: the one that carries the memory controller)."""
    for line in (text or "").splitlines():
        before, _, after = line.partition(" - ")
        fields, kind = before.split(), after.split()
        if len(fields) < 5 or not kind:
            continue
        v2 = kind[0] == "cgroup2"
        v1 = kind[0] == "cgroup" and len(kind) >= 3 and "memory" in kind[2].split(",")
        if (v2 and v == 2) or (v1 and v == 1):
            return _unescape(fields[3]), Path(_unescape(fields[4]))
    return None


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)
