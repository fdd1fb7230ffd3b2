"""MemoryProbe and cgroup discovery over fake kernel files, and once over the real ones."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from ticksmith.monitor.memory import Cgroup, MemoryProbe, find_cgroup, parse_psi
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


def test_the_real_machine_is_sampled_without_error() -> None:
    sample = MemoryProbe.discover().sample()
    assert abs(sample.rss_bytes - psutil.Process().memory_info().rss) < 16 * MiB
    for share in (sample.psi_some_avg10, sample.psi_full_avg10):
        assert share is None or 0 <= share <= 1
