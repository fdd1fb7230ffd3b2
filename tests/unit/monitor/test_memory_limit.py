"""TICKSMITH_MEMORY_LIMIT_BYTES, as the Kubernetes manifest sets it, from the
environment to the monitor's budget; a malformed value stops start-up naming it."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from tests.conftest import start_up
from ticksmith.app import _monitor, build_parts
from ticksmith.config import load_settings
from ticksmith.errors import ConfigError
from ticksmith.monitor.pressure import Budget

from .fakes import MiB

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("no_settings_env")]
VARIABLE = "TICKSMITH_MEMORY_LIMIT_BYTES"


def test_the_variable_is_read_into_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().memory_limit_bytes is None
    monkeypatch.setenv(VARIABLE, str(1536 * MiB))  # downward API, divisor 1: plain bytes
    assert load_settings().memory_limit_bytes == 1536 * MiB


async def test_the_service_monitor_takes_its_budget_from_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """64 MiB: below any cgroup limit this test could run under, so it binds."""
    monkeypatch.setenv(VARIABLE, str(64 * MiB))
    settings, registry = load_settings(), CollectorRegistry()
    _, _, _, cache = build_parts(settings, registry)
    monitor = _monitor(settings, registry, cache)
    monitor.step()
    assert monitor.budget == Budget(int(64 * MiB * 0.8), "environment")
    assert registry.get_sample_value("ticksmith_memory_budget_bytes") == int(64 * MiB * 0.8)


@pytest.mark.parametrize("value", ["2Gi", "-1", "0", "1.5e9", "²", ""])
def test_a_malformed_value_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(VARIABLE, value)
    with pytest.raises(ConfigError, match=VARIABLE):
        load_settings()


def test_a_malformed_value_stops_start_up_naming_the_variable() -> None:
    proc = start_up({VARIABLE: "1Gi"})
    assert proc.returncode == 2
    assert VARIABLE in proc.stderr and "1Gi" in proc.stderr
