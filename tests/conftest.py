"""Shared by unit and integration tests: the settings a test loads, and a process it
starts, see none of the TICKSMITH_* variables of the shell that runs the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

import pytest

from ticksmith.config import ENV_PREFIX


def without_settings(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """`environ` less every TICKSMITH_* setting."""
    return {k: v for k, v in environ.items() if not k.startswith(ENV_PREFIX)}


@pytest.fixture
def no_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings load as if the shell set none: its TICKSMITH_* variables are removed."""
    for name in set(os.environ) - set(without_settings()):
        monkeypatch.delenv(name)


def start_up(settings: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`ticksmith run` as a process with only these settings in its environment: for a
    bad one, which must stop it (exit 2, naming it) before it connects to anything."""
    return subprocess.run(
        [sys.executable, "-m", "ticksmith", "run"],
        env={**without_settings(), **settings},
        capture_output=True,
        text=True,
        timeout=60,
    )
