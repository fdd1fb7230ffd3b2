"""MemoryProbe and cgroup discovery (v1 and v2) over fake kernel files, and over
the real ones of the machine the tests run on."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from ticksmith.monitor.cgroup import Cgroup, find_cgroup
from ticksmith.monitor.memory import MemoryProbe, parse_psi
from ticksmith.monitor.pressure import MemorySample

from .fakes import FakeKernel, MiB, psi

PAGE = os.sysconf("SC_PAGE_SIZE")


@pytest.fixture
def kernel(tmp_path: Path) -> FakeKernel:
    return FakeKernel(tmp_path / "with space")  # mountinfo escapes it as \040


def probe(kernel: FakeKernel) -> MemoryProbe:
    return MemoryProbe.discover(kernel.proc)


# -- discovery -------------------------------------------------------------------------------


def test_the_cgroup_is_found_from_proc_self_cgroup_and_mountinfo(kernel: FakeKernel) -> None:
    directory = kernel.place("/kubepods/pod1/app")
    assert find_cgroup(kernel.proc) == Cgroup(kernel.mount, directory)


def test_a_mount_of_a_subtree_resolves_paths_from_its_own_root(kernel: FakeKernel) -> None:
    kernel.place("/docker/abc", mount_root="/docker/abc")
    assert find_cgroup(kernel.proc) == Cgroup(kernel.mount, kernel.mount)


def test_no_cgroup2_mount_or_no_unified_line_means_no_cgroup(kernel: FakeKernel) -> None:
    kernel.place("/app")
    kernel.write(kernel.proc / "self" / "mountinfo", "22 1 0:21 / / rw - ext4 /dev/root rw\n")
    assert find_cgroup(kernel.proc) is None
    kernel.place("/app")
    kernel.write(kernel.proc / "self" / "cgroup", "4:memory:/app\n")  # cgroup v1 only
    assert find_cgroup(kernel.proc) is None


def test_a_cgroup_directory_that_is_not_there_means_no_cgroup(kernel: FakeKernel) -> None:
    kernel.place("/app")
    kernel.write(kernel.proc / "self" / "cgroup", "0::/elsewhere\n")
    assert find_cgroup(kernel.proc) is None


def test_nothing_at_all_means_no_cgroup(tmp_path: Path) -> None:
    assert find_cgroup(tmp_path) is None


def test_lineage_runs_from_the_cgroup_up_to_the_mount(kernel: FakeKernel) -> None:
    directory = kernel.place("/a/b")
    assert Cgroup(kernel.mount, directory).lineage() == [directory, directory.parent, kernel.mount]


# -- sampling --------------------------------------------------------------------------------


def test_a_sample_reads_rss_cgroup_and_psi(kernel: FakeKernel) -> None:
    directory = kernel.place("/app")
    kernel.statm(resident_pages=1000)
    kernel.write(directory / "memory.current", f"{600 * MiB}\n")
    kernel.write(directory / "memory.max", f"{1024 * MiB}\n")
    kernel.write(directory / "memory.stat", f"anon 1\ninactive_file {100 * MiB}\nactive_file 7\n")
    kernel.write(directory / "memory.pressure", psi(some=12.5, full=3.0))
    assert probe(kernel).sample() == MemorySample(
        rss_bytes=1000 * PAGE,
        cgroup_current_bytes=600 * MiB,
        cgroup_working_set_bytes=500 * MiB,
        cgroup_max_bytes=1024 * MiB,
        psi_some_avg10=0.125,
        psi_full_avg10=0.03,
    )


def test_the_limit_is_the_smallest_memory_max_up_the_tree_and_max_means_none(
    kernel: FakeKernel,
) -> None:
    directory = kernel.place("/slice/app")
    kernel.statm(1)
    kernel.write(directory / "memory.max", "max\n")
    assert probe(kernel).sample().cgroup_max_bytes is None
    kernel.write(directory.parent / "memory.max", f"{512 * MiB}\n")
    assert probe(kernel).sample().cgroup_max_bytes == 512 * MiB
    kernel.write(directory / "memory.max", f"{256 * MiB}\n")
    assert probe(kernel).sample().cgroup_max_bytes == 256 * MiB


def test_without_memory_stat_the_working_set_is_memory_current(kernel: FakeKernel) -> None:
    directory = kernel.place("/app")
    kernel.statm(1)
    kernel.write(directory / "memory.current", "4096\n")
    assert probe(kernel).sample().cgroup_working_set_bytes == 4096


def test_psi_falls_back_to_the_system_file_when_the_cgroup_has_none(kernel: FakeKernel) -> None:
    kernel.place("/app")
    kernel.statm(1)
    kernel.write(kernel.proc / "pressure" / "memory", psi(some=1.0, full=0.5))
    sampled = probe(kernel)
    assert sampled.psi_path == kernel.proc / "pressure" / "memory"
    assert (sampled.sample().psi_some_avg10, sampled.sample().psi_full_avg10) == (0.01, 0.005)


def test_every_file_may_be_absent(kernel: FakeKernel) -> None:
    kernel.statm(3)
    assert probe(kernel).sample() == MemorySample(rss_bytes=3 * PAGE)
    kernel.place("/app")  # a cgroup with no memory controller files
    assert probe(kernel).sample() == MemorySample(rss_bytes=3 * PAGE)


def test_a_file_that_is_there_but_unreadable_as_a_number_raises(kernel: FakeKernel) -> None:
    directory = kernel.place("/app")
    kernel.statm(1)
    kernel.write(directory / "memory.current", "garbage\n")
    with pytest.raises(ValueError):
        probe(kernel).sample()


def test_psi_without_a_full_line_has_no_full_share() -> None:
    assert parse_psi("some avg10=2.50 avg60=1.00 avg300=0.10 total=9\n") == (0.025, None)


def test_rss_without_statm_comes_from_psutil(tmp_path: Path) -> None:
    rss = MemoryProbe(None, statm=tmp_path / "absent").sample().rss_bytes
    assert abs(rss - psutil.Process().memory_info().rss) < 16 * MiB


# -- cgroup v1 --------------------------------------------------------------------------------

V1_UNLIMITED = "9223372036854771712\n"  # what v1 writes for "no limit" (4 KiB pages)


def test_a_v1_memory_cgroup_is_found(kernel: FakeKernel) -> None:
    directory = kernel.place_v1("/kubepods/pod1/app")
    assert find_cgroup(kernel.proc) == Cgroup(kernel.v1_mount, directory, version=1)


def test_a_v1_mount_of_a_subtree_resolves_paths_from_its_own_root(kernel: FakeKernel) -> None:
    kernel.place_v1("/docker/abc", mount_root="/docker/abc")
    assert find_cgroup(kernel.proc) == Cgroup(kernel.v1_mount, kernel.v1_mount, version=1)


def test_on_a_hybrid_host_memory_is_v1_and_psi_is_the_unified_cgroups(
    kernel: FakeKernel,
) -> None:
    directory = kernel.place_v1("/app", unified="/app")
    kernel.statm(1)
    kernel.write(directory / "memory.usage_in_bytes", "4096\n")
    pressure = kernel.write(kernel.mount / "unified" / "app" / "memory.pressure", psi(2.0, 1.0))
    sampled = probe(kernel)
    assert sampled.cgroup == Cgroup(kernel.v1_mount, directory, version=1)
    assert sampled.psi_path == pressure
    assert sampled.sample().cgroup_current_bytes == 4096


def test_a_v1_sample_reads_usage_limit_and_inactive_file(kernel: FakeKernel) -> None:
    directory = kernel.place_v1("/app")
    kernel.statm(resident_pages=1000)
    kernel.write(directory / "memory.usage_in_bytes", f"{600 * MiB}\n")
    kernel.write(directory / "memory.limit_in_bytes", f"{1024 * MiB}\n")
    stat = f"cache 5\ninactive_file 1\ntotal_inactive_file {100 * MiB}\n"
    kernel.write(directory / "memory.stat", stat)
    kernel.write(kernel.proc / "pressure" / "memory", psi(some=12.5, full=3.0))
    assert probe(kernel).sample() == MemorySample(
        rss_bytes=1000 * PAGE,
        cgroup_current_bytes=600 * MiB,
        cgroup_working_set_bytes=500 * MiB,
        cgroup_max_bytes=1024 * MiB,
        psi_some_avg10=0.125,
        psi_full_avg10=0.03,
    )


def test_v1_unlimited_is_no_limit_and_a_limit_anywhere_up_the_tree_binds(
    kernel: FakeKernel,
) -> None:
    directory = kernel.place_v1("/slice/app")
    kernel.statm(1)
    kernel.write(directory / "memory.limit_in_bytes", V1_UNLIMITED)
    kernel.write(directory.parent / "memory.limit_in_bytes", V1_UNLIMITED)
    assert probe(kernel).sample().cgroup_max_bytes is None
    kernel.write(directory.parent / "memory.limit_in_bytes", f"{512 * MiB}\n")
    assert probe(kernel).sample().cgroup_max_bytes == 512 * MiB
    stat = f"hierarchical_memory_limit {300 * MiB}\n"  # set above the mount, out of sight
    kernel.write(directory / "memory.stat", stat)
    assert probe(kernel).sample().cgroup_max_bytes == 300 * MiB


def test_a_v1_memory_stat_without_total_keys_uses_its_own(kernel: FakeKernel) -> None:
    directory = kernel.place_v1("/app")
    kernel.statm(1)
    kernel.write(directory / "memory.usage_in_bytes", "10000\n")
    kernel.write(directory / "memory.stat", "inactive_file 4000\n")
    assert probe(kernel).sample().cgroup_working_set_bytes == 6000


def test_a_v1_line_without_the_memory_controller_is_not_a_memory_cgroup(
    kernel: FakeKernel,
) -> None:
    kernel.place_v1("/app")
    kernel.write(kernel.proc / "self" / "cgroup", "4:cpu,cpuacct:/app\n")
    assert find_cgroup(kernel.proc) is None


# -- the machine the tests run on --------------------------------------------------------------


def test_the_real_machine_is_sampled_without_error() -> None:
    sample = MemoryProbe.discover().sample()
    assert abs(sample.rss_bytes - psutil.Process().memory_info().rss) < 16 * MiB
    for share in (sample.psi_some_avg10, sample.psi_full_avg10):
        assert share is None or 0 <= share <= 1


def test_the_real_machines_memory_cgroup_is_found_and_read() -> None:
    """Whichever hierarchy this kernel mounts memory in (this machine: v1, with a
    cgroup2 mount beside it), the probe finds the process's cgroup there and reads
    the same usage as the file itself."""
    v1 = Path("/sys/fs/cgroup/memory/memory.usage_in_bytes").exists()
    version, usage = (1, "memory.usage_in_bytes") if v1 else (2, "memory.current")
    sampled = MemoryProbe.discover()
    assert sampled.cgroup is not None and sampled.cgroup.version == version
    in_file = int((sampled.cgroup.path / usage).read_text())
    current = sampled.sample().cgroup_current_bytes
    assert current is not None and abs(current - in_file) < 64 * MiB
    assert current >= psutil.Process().memory_info().rss / 2  # this process is in it
